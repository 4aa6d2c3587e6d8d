//! `Postgres`: a real server, started, queried, stopped and restarted.

use std::net::TcpStream;
use std::time::Instant;

use nimbus_test_servers::Postgres;

#[test]
fn starts_and_answers_queries() {
    let started = Instant::now();
    let pg = Postgres::start();
    eprintln!("postgres started in {:?}", started.elapsed());

    assert_eq!(pg.psql("select 1"), "1");
    assert_eq!(pg.user(), "nimbus");
    assert_eq!(pg.database(), "nimbus");
    assert_eq!(
        pg.url(),
        format!(
            "postgres://nimbus:{}@127.0.0.1:{}/nimbus",
            pg.password(),
            pg.port()
        )
    );
    assert_eq!(
        pg.psql("select current_user, current_database(), rolsuper from pg_roles where rolname = current_user"),
        "nimbus|nimbus|t"
    );
    assert_eq!(pg.psql("show server_encoding"), "UTF8");
    assert_eq!(pg.psql("show fsync"), "off");
    assert_eq!(pg.psql("show listen_addresses"), "127.0.0.1");
    // No command tags in the output; several rows, one a line.
    assert_eq!(
        pg.psql("create table t (n int, s text); insert into t values (1, 'a'), (2, 'b'); select * from t order by n"),
        "1|a\n2|b"
    );
    let err = pg.try_psql("select * from missing").unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_password_logs_in_over_tcp_and_a_wrong_one_is_refused() {
    let pg = Postgres::start();
    assert_eq!(pg.password().len(), 32);

    let ok = pg
        .psql_command()
        .args(["-c", "select 'in'"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "in\n");

    let wrong = pg
        .psql_command()
        .env("PGPASSWORD", "not-the-password")
        .args(["-c", "select 'in'"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    // Over TCP a password is required: without one, psql cannot log in.
    let none = pg
        .psql_command()
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/dev/null")
        .arg("-w")
        .args(["-c", "select 'in'"])
        .output()
        .unwrap();
    assert!(!none.status.success());
}

#[test]
fn stop_refuses_connections_and_restart_keeps_the_data() {
    let mut pg = Postgres::start();
    let port = pg.port();
    pg.psql(
        "create table kept (id int primary key, v text); insert into kept values (1, 'before')",
    );

    let stopping = Instant::now();
    pg.stop();
    eprintln!("postgres stopped in {:?}", stopping.elapsed());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts"
    );
    assert!(pg.try_psql("select 1").is_err());
    pg.stop(); // twice: nothing to do

    let restarting = Instant::now();
    pg.restart();
    eprintln!("postgres restarted in {:?}", restarting.elapsed());
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("select v from kept where id = 1"), "before");
    pg.psql("insert into kept values (2, 'after')");

    // Restart while it runs (it is killed first), twice.
    pg.restart();
    pg.restart();
    assert_eq!(pg.psql("select count(*) from kept"), "2");
}

#[test]
fn clusters_are_separate() {
    let a = Postgres::start();
    let b = Postgres::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.password(), b.password());
    a.psql("create table only_in_a (n int)");
    assert!(b.try_psql("select * from only_in_a").is_err());
    let dir = a.socket_dir().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "{dir:?} is left behind");
    assert_eq!(b.psql("select 2"), "2");
}
