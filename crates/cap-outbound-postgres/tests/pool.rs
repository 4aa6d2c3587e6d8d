//! The app's PostgreSQL pools against a real PostgreSQL: grants, the node's
//! private-address guard, transactions that never leak into the next
//! request, a database that goes away and comes back.

use std::time::{Duration, Instant};

use nimbus_cap_outbound_postgres::v4::Error;
use nimbus_cap_outbound_postgres::PostgresPools;
use nimbus_capability::{AllowedHosts, OutboundPolicy};
use nimbus_test_servers::Postgres;

fn hosts(patterns: &[&str], policy: OutboundPolicy) -> AllowedHosts {
    let patterns: Vec<_> = patterns.iter().map(|p| p.parse().unwrap()).collect();
    AllowedHosts::new("client", patterns.into(), policy)
}

fn connection_failed(result: Result<impl Sized, Error>) -> String {
    match result {
        Err(Error::ConnectionFailed(message)) => message,
        Err(other) => panic!("expected connection-failed, got {other:?}"),
        Ok(_) => panic!("expected connection-failed, got a connection"),
    }
}

#[tokio::test]
async fn grants_and_the_private_address_guard() {
    let pg = Postgres::start();
    let port = pg.port();
    let pools = PostgresPools::new();
    let by_name = pg.url().replace("127.0.0.1", "localhost");
    let node = hosts(
        &[&format!("postgres://localhost:{port}")],
        OutboundPolicy::NODE,
    );
    let message = connection_failed(pools.connect(&node, &by_name).await);
    assert!(message.contains("loopback/private"), "{message}");
    assert!(!message.contains(pg.password()), "{message}");

    let up = hosts(
        &[&format!("postgres://localhost:{port}")],
        OutboundPolicy::default(),
    );
    let client = pools.connect(&up, &by_name).await.unwrap();
    let row = client
        .client()
        .unwrap()
        .query_one("SELECT 1 + 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);

    let literal = hosts(
        &[&format!("postgres://127.0.0.1:{port}")],
        OutboundPolicy::NODE,
    );
    pools.connect(&literal, &pg.url()).await.unwrap();
    let message = connection_failed(
        pools
            .connect(
                &literal,
                &pg.url().replace(&port.to_string(), &(port + 1).to_string()),
            )
            .await,
    );
    assert!(
        message.contains("not in allowed_outbound_hosts"),
        "{message}"
    );

    // Not a connection string.
    let message = connection_failed(pools.connect(&literal, "postgres://[").await);
    assert!(message.contains("not a valid"), "{message}");
}

#[tokio::test]
async fn a_transaction_left_open_is_rolled_back_before_the_connection_is_reused() {
    let pg = Postgres::start();
    let grant = hosts(
        &[&format!("postgres://127.0.0.1:{}", pg.port())],
        OutboundPolicy::default(),
    );
    let pools = PostgresPools::new();
    let first = pools.connect(&grant, &pg.url()).await.unwrap();
    let client = first.client().unwrap();
    client
        .batch_execute("CREATE TABLE leak (v INT4)")
        .await
        .unwrap();
    client
        .batch_execute("BEGIN; INSERT INTO leak VALUES (1); SET search_path = nowhere")
        .await
        .unwrap();
    drop(first); // the guest's request ends mid-transaction
                 // The rollback happens in the background; the next request sees a clean
                 // session and no row.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let next = pools.connect(&grant, &pg.url()).await.unwrap();
        let client = next.client().unwrap();
        let count: i64 = client
            .query_one("SELECT count(*) FROM public.leak", &[])
            .await
            .unwrap()
            .get(0);
        let path: String = client
            .query_one("SHOW search_path", &[])
            .await
            .unwrap()
            .get(0);
        if count == 0 && path != "nowhere" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "count {count}, search_path {path}"
        );
        drop(next);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pg.psql("SELECT count(*) FROM leak").trim(), "0");
}

#[tokio::test]
async fn a_database_that_is_down_fails_fast_and_the_pool_recovers() {
    let mut pg = Postgres::start();
    let grant = hosts(
        &[&format!("postgres://127.0.0.1:{}", pg.port())],
        OutboundPolicy::default(),
    );
    let pools = PostgresPools::new();
    drop(pools.connect(&grant, &pg.url()).await.unwrap());

    pg.stop();
    let started = Instant::now();
    let message = connection_failed(pools.connect(&grant, &pg.url()).await);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(!message.contains(pg.password()), "{message}");

    pg.restart();
    let client = pools.connect(&grant, &pg.url()).await.unwrap();
    client
        .client()
        .unwrap()
        .query_one("SELECT 1", &[])
        .await
        .unwrap();

    // Wrong password: the server's message, not the address.
    let wrong = pg.url().replace(pg.password(), "wrong-password-xyz");
    let message = connection_failed(pools.connect(&grant, &wrong).await);
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains("wrong-password-xyz"), "{message}");
}
