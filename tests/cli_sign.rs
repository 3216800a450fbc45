//! `thumbnail sign` (src/bin/sign.rs): the signature alone on stdout, for
//! scripts; imgproxy's documented vector.

use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_thumbnail")).args(args).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

const PATH: &str = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";

#[test]
fn prints_the_signature_alone() {
    let (code, out, err) = cli(&["sign", "--key", "736563726574", "--salt", "68656C6C6F", PATH]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8\n", ""));
    let (code, out, _) = cli(&["sign", PATH, "--size", "8", "--salt", "68656C6C6F", "--key", "736563726574"]);
    assert_eq!((code, out.as_str()), (0, "oKfUtW34Dvo\n"));
}

#[test]
fn usage_errors_exit_1_with_a_message() {
    for (args, says) in [
        (vec!["sign", PATH], "--key and --salt in pairs"),
        (vec!["sign", "--key", "00", "--salt", "00"], "missing PATH"),
        (vec!["sign", "--key", "0g", "--salt", "00", PATH], "signing key 1 is not hex"),
        (vec!["sign", "--key", "00", "--salt", "00", "--size", "33", PATH], "--size '33' must be 1..=32"),
        (vec!["sign", "--key"], "--key needs a value"),
        (vec!["sign", "--bogus", PATH], "unknown option --bogus"),
    ] {
        let (code, out, err) = cli(&args);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
