// The README's worked example of a test file that uses tempreg, as a user
// would write it; `tests/global.rs` checks that the README shows this file.
use std::io::{Read, Seek, Write};

/// The code under test: semicolons for commas, written next to the input.
fn convert(input: &mut std::fs::File, out_dir: &std::path::Path) -> std::io::Result<usize> {
    let mut text = String::new();
    input.rewind()?;
    input.read_to_string(&mut text)?;
    std::fs::write(out_dir.join("result.csv"), text.replace(',', ";"))?;
    Ok(text.lines().count())
}

#[test]
fn converts_every_row() -> std::io::Result<()> {
    let mut input = tempreg::temp_file()?; // 0600, in <tmp>/tempreg-<pid>-<random>/
    input.write_all(b"a,b\n1,2\n")?;
    let out = tempreg::temp_dir()?; // 0700, removed with everything in it

    assert_eq!(convert(input.as_file_mut(), out.path())?, 2);
    assert_eq!(std::fs::read(out.path().join("result.csv"))?, b"a;b\n1;2\n");
    Ok(())
    // `input` and `out` are dropped here, as with `tempfile`; if an assert
    // fails, the panic unwinds and drops them just the same.
}

#[test]
fn an_empty_file_has_no_rows() -> std::io::Result<()> {
    let mut input = tempreg::temp_file()?;
    let out = tempreg::temp_dir()?;
    assert_eq!(convert(input.as_file_mut(), out.path())?, 0);
    Ok(())
}
