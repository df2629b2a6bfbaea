//! The `abm` binary itself: configuration errors, token creation and the import command.

use std::process::Command;

use serde_json::json;

use crate::db_tests;
use crate::helpers::{Backend, spawn_app};

fn abm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abm"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ABM_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn an_invalid_setting_stops_start_up_naming_the_key() {
    let out = abm()
        .env("ABM_SERVER__PORT", "eighty")
        .arg("serve")
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.port"), "{err}");

    let out = abm()
        .env("ABM_DATABASE__URL", "mysql://x")
        .arg("migrate")
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));

    let out = abm()
        .args(["--profile", "nosuch", "migrate"])
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch.toml"));
}

#[test]
fn migrate_creates_the_database_and_is_repeatable() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/sub/abm.db?mode=rwc", dir.path().display());
    for _ in 0..2 {
        let out = abm()
            .env("ABM_DATABASE__URL", &url)
            .arg("migrate")
            .output()
            .expect("run abm");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        dir.path().join("sub/abm.db").exists(),
        "the folder and file are created"
    );
    let out = abm()
        .env("ABM_DATABASE__URL", &url)
        .args(["token", "list"])
        .output()
        .expect("run abm");
    assert!(out.status.success());
}

#[test]
fn help_explains_every_command() {
    let out = abm().arg("--help").output().expect("run abm");
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "token", "import", "demo"] {
        assert!(text.contains(cmd), "{cmd} in --help");
    }
}

async fn token_create_and_import_work_from_the_command_line(b: Backend) {
    let app = spawn_app(b).await;
    let url = app.database_url.clone();
    let out = abm()
        .env("ABM_DATABASE__URL", &url)
        .args(["token", "create", "--name", "crm"])
        .output()
        .expect("run abm");
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("abm_"));
    let ok = app
        .client
        .get(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200, "the printed token works");

    app.create_account("C-1", json!({"currency": "USD"})).await;
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "account_id,ordered_at,amount\nC-1,2025-01-01,5\nC-1,not-a-date,5\nC-2,2025-01-01,1\n",
    )
    .expect("write");
    let out = abm()
        .env("ABM_DATABASE__URL", &url)
        .args(["import", "orders"])
        .arg(&bad)
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3, column `ordered_at`"), "{err}");
    assert!(
        err.contains("row 4, column `account_id`: account `C-2` does not exist"),
        "{err}"
    );
    assert!(err.contains("2 invalid row(s)"), "{err}");
    assert_eq!(app.count("orders").await, 0);

    let out = abm()
        .env("ABM_DATABASE__URL", &url)
        .args(["import", "orders", "--create-accounts"])
        .arg(&bad)
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(1), "a bad date is still bad");

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "account_id,ordered_at,amount\nC-1,2025-01-01,5\nC-2,2025-01-01,1\n",
    )
    .expect("write");
    let out = abm()
        .env("ABM_DATABASE__URL", &url)
        .args(["import", "orders", "--create-accounts"])
        .arg(&good)
        .output()
        .expect("run abm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 rows, 2 written, 0 unchanged, 1 accounts created"),
        "{text}"
    );
    assert_eq!(app.count("orders").await, 2);
}

async fn templates_preview_works_from_the_command_line(b: Backend) {
    let app = spawn_app(b).await;
    app.create_account("CLI-VN", json!({"country": "VN", "currency": "VND"}))
        .await;
    let out = abm()
        .env("ABM_DATABASE__URL", &app.database_url)
        .args([
            "templates",
            "preview",
            "--account",
            "CLI-VN",
            "--purpose",
            "outreach",
        ])
        .output()
        .expect("run abm");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        view["selection"]["chosen"], "outreach-general-vi",
        "the account's language"
    );
    assert!(
        view["rendered"]["subject"]
            .as_str()
            .unwrap_or("")
            .contains("CLI-VN Ltd")
    );

    let out = abm()
        .env("ABM_DATABASE__URL", &app.database_url)
        .args([
            "templates",
            "preview",
            "--account",
            "CLI-VN",
            "--purpose",
            "spam",
        ])
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/purpose: must be one of"));
}

db_tests!(
    token_create_and_import_work_from_the_command_line,
    templates_preview_works_from_the_command_line,
);

#[test]
fn templates_lint_passes_the_shipped_library_and_fails_on_a_broken_one() {
    let out = abm().args(["templates", "lint"]).output().expect("run abm");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no problems"));

    let dir = tempfile::tempdir().expect("dir");
    let t = dir.path().join("broken-en");
    std::fs::create_dir_all(&t).expect("mkdir");
    std::fs::write(
        t.join("template.toml"),
        "purpose = \"outreach\"\nchannel = \"email\"\nlocale = \"en\"\n",
    )
    .expect("write");
    std::fs::write(t.join("subject.hbs"), "Hi {{acount.name}}").expect("write");
    std::fs::write(t.join("html.hbs"), "<p></p>").expect("write");
    let out = abm()
        .args(["templates", "lint", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run abm");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let prefix = t.display().to_string();
    assert!(
        err.contains(&format!("{prefix}/text.hbs:1: missing part `text.hbs`")),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

/// A raw HTTP/1.1 GET on loopback; returns the status line and the whole response.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serve_with_every_role_stops_on_sigterm_and_exits_0() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/abm.db?mode=rwc", dir.path().display());
    let mut child = abm()
        .env("ABM_DATABASE__URL", &url)
        .env("ABM_SERVER__PORT", "0")
        .env("ABM_LOG__LEVEL", "info")
        .args(["serve", "--role", "api", "--role", "worker,scheduler"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start abm serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("abm serve logs that it listens")
            .expect("line");
        log.push_str(&line);
        log.push('\n');
        if let Some(at) = line.find("http://127.0.0.1:") {
            let digits: String = line[at + "http://127.0.0.1:".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            break digits.parse().expect("port");
        }
    };
    assert!(http_get(port, "/health/ready").starts_with("HTTP/1.1 200"));
    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("abm_db_pool_connections"), "{metrics}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
    let starting = rest
        .iter()
        .find(|l| l.contains("starting"))
        .cloned()
        .unwrap_or_default();
    for role in ["api", "worker", "scheduler"] {
        assert!(starting.contains(role), "{starting}");
    }
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
