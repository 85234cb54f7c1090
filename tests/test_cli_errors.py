"""Every configuration mistake of `pop3mock serve`: exit status 2, one line naming it.

These run `cli.main` in-process (they all fail before a port is bound); test_cli.py runs
the command as a subprocess for the same kinds of error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pop3mock.cli._main import main


def serve_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `pop3mock serve --port 0 ARGS`, expect status 2, return the one stderr line."""
    try:
        status = main(["serve", "--port", "0", *args])
    except SystemExit as exc:  # argparse usage errors
        status = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("pop3mock")
    assert ": error: " in err
    return err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_maildrop_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = serve_error(capsys, "--messages", str(tmp_path / "nope"))
    assert f"{tmp_path / 'nope'}: no such file or folder" in err
    notes = write(tmp_path / "notes.txt", "hello\n")
    assert "not an mbox file" in serve_error(capsys, "--messages", str(notes))
    (tmp_path / "broken" / "1.eml").mkdir(parents=True)
    err = serve_error(capsys, "--messages", str(tmp_path / "broken"))
    assert f"{tmp_path / 'broken' / '1.eml'}: cannot read" in err


def test_maildrop_error_of_a_config_user_names_the_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        '[[users]]\nname = "a"\npassword = "x"\n\n'
        '[[users]]\nname = "b"\npassword = "x"\nmessages = "missing"\n',
    )
    err = serve_error(capsys, "--config", str(config))
    assert f"{config}: users[2].messages: {tmp_path / 'missing'}: no such file or folder" in err


@pytest.mark.slow
def test_config_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "port = \n": "invalid TOML",
        "prot = 1110\n": "unknown key 'prot' (did you mean 'port'?)",
        "port = 70000\n": "port: expected an integer from 0 to 65535, got 70000",
        "stls = 1\n": "stls: expected true or false, got 1",
        'personality = "exchange"\n': "personality: unknown personality 'exchange'",
        'capabilities = ["TOP", "IDLE"]\n': "capabilities: unknown capabilities ['IDLE']",
        "[texts]\nhello = 'x'\n": "texts: unknown reply text key 'hello'",
        'fake = 1\nmessages = "m"\n': "give either 'messages' or 'fake', not both",
        '[[users]]\nname = "a"\n': "users[1]: the key 'password' is missing",
        '[[users]]\nname = "a"\npassword = "x"\nfake = "ten"\n': "users[1].fake: expected",
        '[[users]]\nname = "a"\npassword = "x"\npasword = "y"\n': (
            "unknown key 'users[1].pasword' (did you mean 'password'?)"
        ),
        '[[users]]\nname = "a"\npassword = "x"\n[[users]]\nname = "a"\npassword = "y"\n': (
            "users[2]: user 'a' is defined twice"
        ),
        '[[users]]\nname = "a b"\npassword = "x"\n': "users[1]: invalid user name 'a b'",
        'users = ["alice"]\n': "users: expected [[users]] tables",
        'apop = false\ncapabilities = ["CAPA"]\n': "no way to log in",
    }
    for number, (text, expected) in enumerate(cases.items()):
        config = write(tmp_path / f"c{number}.toml", text)
        err = serve_error(capsys, "--config", str(config))
        assert f"{config}: " in err
        assert expected in err, (text, err)
    missing = tmp_path / "missing.toml"
    err = serve_error(capsys, "--config", str(missing))
    assert f"{missing}: cannot read the config file: No such file or directory" in err


def test_config_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes(b"port = 1110\n\xff\xfe = 1\n")
    err = serve_error(capsys, "--config", str(config))
    assert err == f"pop3mock: error: {config}: not UTF-8 text: byte 0xff at offset 12\n"


def test_fault_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--fault: fault spec 'FETCH 1: error': unknown fault target" in serve_error(
        capsys, "--fault", "FETCH 1: error"
    )
    config = write(
        tmp_path / "c.toml",
        'faults = ["RETR: error"]\n[[users]]\nname = "a"\npassword = "x"\n'
        'faults = ["RETR: error", "FETCH: error"]\n',
    )
    assert f"{config}: users[1].faults[2]: " in serve_error(capsys, "--config", str(config))
    config = write(tmp_path / "d.toml", 'faults = ["RETR: error", "FETCH: error"]\n')
    assert f"{config}: faults[2]: " in serve_error(capsys, "--config", str(config))
    # A fault in a user's table is that user's: another user= there is a contradiction.
    config = write(
        tmp_path / "e.toml",
        '[[users]]\nname = "a"\npassword = "x"\nfaults = ["RETR user=b: error"]\n',
    )
    err = serve_error(capsys, "--config", str(config))
    assert f"{config}: users[1].faults[1]: " in err
    assert "user=b in the faults of 'a'" in err


def test_fault_for_a_user_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "PASS user=bobb: error [IN-USE] locked"
    err = serve_error(capsys, "--user", "bob:pw", "--user", "carol:pw", "--fault", spec)
    assert err == (
        f"pop3mock: error: --fault: fault spec {spec!r}: user=bobb is not a user of this "
        "server (users: bob, carol); did you mean user=bob?\n"
    )
    # Without --user the one user is the default one.
    err = serve_error(capsys, "--fault", "RETR user=alice: error")
    assert "user=alice is not a user of this server (users: user)\n" in err
    config = write(
        tmp_path / "c.toml",
        'faults = ["QUIT user=ann: reset"]\n[[users]]\nname = "anne"\npassword = "x"\n',
    )
    err = serve_error(capsys, "--config", str(config))
    assert f"{config}: faults[1]: fault spec 'QUIT user=ann: reset': user=ann is not" in err


def test_tls_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "c.pem"
    err = serve_error(capsys, "--stls", "--cert", str(cert))
    assert f"cannot load the certificate {cert}: No such file or directory" in err
    garbage = write(tmp_path / "g.pem", "not a certificate\n")
    assert f"cannot load the certificate {garbage}" in serve_error(
        capsys, "--tls-port", "0", "--cert", str(garbage)
    )
    assert "--key goes with --cert" in serve_error(capsys, "--stls", "--key", "k.pem")
    assert "--ca goes with --cert" in serve_error(capsys, "--stls", "--ca", "ca.pem")
    assert "--cert needs --tls-port or --stls" in serve_error(capsys, "--cert", "c.pem")
    assert "--tls-dir needs --tls-port or --stls" in serve_error(capsys, "--tls-dir", "d")
    err = serve_error(capsys, "--stls", "--cert", "c.pem", "--tls-dir", "d")
    assert "--tls-dir is for the generated certificate" in err
    blocker = write(tmp_path / "file", "")
    err = serve_error(capsys, "--stls", "--tls-dir", str(blocker / "sub"))
    assert f"cannot write the certificates to {blocker / 'sub'}" in err


def test_output_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "no" / "such" / "j.jsonl"
    err = serve_error(capsys, "--journal", str(journal))
    assert f"cannot write the journal {journal}: No such file or directory" in err
    ready = tmp_path / "no" / "ready"
    err = serve_error(capsys, "--ready-file", str(ready))
    assert f"cannot write the ready file {ready}: no folder {tmp_path / 'no'}" in err
    folder = tmp_path / "adir"
    folder.mkdir()
    err = serve_error(capsys, "--ready-file", str(folder))
    assert err == f"pop3mock: error: cannot write the ready file {folder}: it is a folder\n"


def test_host_that_cannot_be_bound_gives_the_error_without_the_loopback_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = serve_error(capsys, "--host", "nosuch.invalid")
    assert err.startswith("pop3mock: error: cannot listen on nosuch.invalid:0: ")
    assert "warning" not in err


def test_seed_that_nothing_would_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "1.eml").write_bytes(b"Subject: one\r\n\r\nOne\r\n")
    err = serve_error(capsys, "--messages", str(mail), "--seed", "5")
    assert err == (
        "pop3mock: error: --seed sets the seed of generated messages, and none are generated "
        f"here (the messages come from {mail}); it would change nothing\n"
    )
    config = write(tmp_path / "c.toml", 'messages = "mail"\nseed = 5\n')
    err = serve_error(capsys, "--config", str(config))
    assert f"error: {config}: seed sets the seed of generated messages, and none are" in err
    # A [[users]] seed with the user's own messages, or with the file's default messages.
    config = write(
        tmp_path / "d.toml", '[[users]]\nname = "a"\npassword = "x"\nmessages = "mail"\nseed = 2\n'
    )
    err = serve_error(capsys, "--config", str(config))
    assert err == (
        f"pop3mock: error: {config}: users[1].seed sets the seed of generated messages, and "
        f"none are generated here (the messages come from {mail}); it would change nothing\n"
    )
    config = write(
        tmp_path / "e.toml", 'messages = "mail"\n[[users]]\nname = "a"\npassword = "x"\nseed = 2\n'
    )
    assert f"{config}: users[1].seed sets the seed of generated messages" in serve_error(
        capsys, "--config", str(config)
    )


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("--user", "alice"): "argument --user: expected NAME:PASSWORD, got 'alice'",
        ("--user", ":pw"): "expected NAME:PASSWORD",
        ("--port", "70000"): "argument --port: expected an integer from 0 to 65535, got 70000",
        ("--tls-port", "x"): "argument --tls-port: expected an integer from 0 to 65535, got 'x'",
        ("--fake", "-1"): "argument --fake: expected an integer from 0 to 1000000, got -1",
        (
            "--idle-timeout",
            "nan",
        ): "argument --idle-timeout: expected 0 (never) or a number of seconds",
        ("--seed", "x"): "argument --seed: expected an integer, got 'x'",
        ("--personality", "exchange"): "invalid choice: 'exchange'",
        ("--fake", "1", "--messages", "m"): "give either --messages or --fake, not both",
        ("--user", "a:b", "--user", "a:c"): "--user a: given twice; give each user once",
        ("--fault-seed", "x"): "argument --fault-seed: expected an integer, got 'x'",
        ("--bogus",): "unrecognized arguments: --bogus",
    }
    for args, expected in cases.items():
        err = serve_error(capsys, *args)
        assert expected in err, (args, err)
        if expected.startswith("argument") or "choice" in expected:
            assert err.endswith("(see 'pop3mock serve --help')\n")
