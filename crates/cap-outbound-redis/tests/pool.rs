//! The app's Redis connections against a real `redis-server`: grants, the
//! node's private-address guard, one connection per app and address, and a
//! server that goes away and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nimbus_cap_outbound_redis::{Error, RedisPool};
use nimbus_capability::{AllowedHosts, OutboundPolicy};
use nimbus_test_servers::RedisServer;
use redis::AsyncCommands;

fn hosts(patterns: &[&str], policy: OutboundPolicy) -> AllowedHosts {
    let patterns: Vec<_> = patterns.iter().map(|p| p.parse().unwrap()).collect();
    AllowedHosts::new("client", patterns.into(), policy)
}

#[tokio::test]
async fn a_node_refuses_names_that_lead_to_private_addresses_unless_granted_by_address() {
    let server = RedisServer::start();
    let port = server.port();
    let pool = RedisPool::new();
    let by_name = hosts(
        &[&format!("redis://localhost:{port}")],
        OutboundPolicy::NODE,
    );
    let denied = pool
        .connect(&by_name, &format!("redis://localhost:{port}"))
        .await
        .map(|_| ());
    assert!(matches!(denied, Err(Error::InvalidAddress)), "{denied:?}");
    // `nimbus up`'s policy allows the same grant.
    let local = hosts(
        &[&format!("redis://localhost:{port}")],
        OutboundPolicy::default(),
    );
    pool.connect(&local, &format!("redis://localhost:{port}"))
        .await
        .unwrap();
    // An IP literal in the list is an explicit grant, on a node too.
    let literal = hosts(
        &[&format!("redis://127.0.0.1:{port}")],
        OutboundPolicy::NODE,
    );
    let mut redis = pool
        .connect(&literal, &format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap()
        .shared;
    let _: () = redis.set("k", "v").await.unwrap();
    // Not granted at all.
    let other = pool
        .connect(&literal, &format!("redis://127.0.0.1:{}", port + 1))
        .await
        .map(|_| ());
    assert!(matches!(other, Err(Error::InvalidAddress)), "{other:?}");
}

#[tokio::test]
async fn one_connection_per_app_and_address_and_none_between_apps() {
    let server = RedisServer::start();
    let port = server.port();
    let grant = hosts(
        &[&format!("redis://127.0.0.1:{port}")],
        OutboundPolicy::default(),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let app_a = Arc::new(RedisPool::new());
    let app_b = Arc::new(RedisPool::new());
    for _ in 0..5 {
        app_a.connect(&grant, &url).await.unwrap();
    }
    assert_eq!(app_a.len(), 1);
    assert!(app_b.is_empty());
    app_a.connect(&grant, &format!("{url}/1")).await.unwrap();
    assert_eq!(app_a.len(), 2, "another database is another connection");
    app_b.connect(&grant, &url).await.unwrap();
    assert_eq!(app_b.len(), 1);
}

/// Makes the server at `port` require the password `hunter2`.
async fn require_password(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("hunter2")
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_that_is_down_fails_fast_and_the_connection_recovers() {
    let mut server = RedisServer::start();
    let port = server.port();
    let grant = hosts(
        &[&format!("redis://127.0.0.1:{port}")],
        OutboundPolicy::default(),
    );
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    require_password(port).await;
    let pool = RedisPool::new();
    let mut redis = pool.connect(&grant, &url).await.unwrap().shared;
    let _: () = redis.set("k", "1").await.unwrap();

    server.stop();
    let started = Instant::now();
    let failed: redis::RedisResult<Option<String>> = redis.get("k").await;
    assert!(failed.is_err());
    // A new app (no pooled connection) cannot connect: a quick error
    // without the password.
    let fresh = RedisPool::new();
    let err = fresh.connect(&grant, &url).await.map(|_| ()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let Error::Other(message) = err else {
        panic!("{err:?}")
    };
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.contains(&format!("redis://127.0.0.1:{port}")),
        "{message}"
    );

    server.restart();
    require_password(port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut redis = pool.connect(&grant, &url).await.unwrap().shared;
        match redis.set::<_, _, ()>("k", "2").await {
            Ok(()) => break,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the pooled connection did not recover: {err}"),
        }
    }
}

/// A server that restarts while the app's connection is idle: the app's next
/// command works (it was never sent on the dead connection, so it is sent
/// again on a new one) instead of failing once with a broken pipe.
#[tokio::test]
async fn the_first_command_after_an_idle_restart_succeeds() {
    let mut server = RedisServer::start();
    let port = server.port();
    let grant = hosts(
        &[&format!("redis://127.0.0.1:{port}")],
        OutboundPolicy::default(),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let pool = RedisPool::new();
    let link = pool.connect(&grant, &url).await.unwrap();
    let () = link
        .query(redis::cmd("SET").arg("k").arg("before"))
        .await
        .unwrap();

    server.restart();
    // Let the client notice the closed socket, as an idle app would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let link = pool.connect(&grant, &url).await.unwrap();
    let value: Option<String> = link.query(redis::cmd("GET").arg("k")).await.unwrap();
    // No persistence: the restarted server is empty, and answered.
    assert_eq!(value, None);
    let () = link
        .query(redis::cmd("SET").arg("k").arg("after"))
        .await
        .unwrap();
    let value: Option<String> = link.query(redis::cmd("GET").arg("k")).await.unwrap();
    assert_eq!(value.as_deref(), Some("after"));
}
