//! The NATS harness itself: its client publishes, subscribes (plain and in
//! a queue group), requests, and works again after a restart on the same
//! port.

use std::time::Duration;

use nimbus_test_servers::NatsServer;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn publish_subscribe_queue_groups_and_requests() {
    let server = NatsServer::start();
    assert!(server.url().starts_with("nats://127.0.0.1:"));
    let publisher = server.client();
    let watcher = server.client();
    let all = watcher.subscribe("jobs.>", None);
    let (a, b) = (server.client(), server.client());
    let group_a = a.subscribe("jobs.>", Some("workers"));
    let group_b = b.subscribe("jobs.>", Some("workers"));
    for i in 0..20 {
        publisher.publish(&format!("jobs.{i}"), None, format!("job {i}").as_bytes());
    }
    publisher.flush();
    for i in 0..20 {
        let message = all
            .next(WAIT)
            .expect("the plain subscriber gets every message");
        assert_eq!(message.subject, format!("jobs.{i}"));
        assert_eq!(message.payload, format!("job {i}").into_bytes());
    }
    let mut shared = 0;
    while group_a.next(Duration::from_millis(200)).is_some() {
        shared += 1;
    }
    while group_b.next(Duration::from_millis(200)).is_some() {
        shared += 1;
    }
    assert_eq!(shared, 20, "the queue group gets each message once");

    // A responder answering on the reply subject.
    let responder = server.client();
    let requests = responder.subscribe("ask", None);
    let asker = std::thread::spawn({
        let asker = server.client();
        move || asker.request("ask", b"ping", WAIT)
    });
    let request = requests.next(WAIT).expect("the request arrives");
    let reply = request.reply.expect("a request has a reply subject");
    responder.publish(&reply, None, b"pong");
    let answer = asker.join().unwrap().expect("the reply arrives");
    assert_eq!(answer.payload, b"pong");
}

#[test]
fn the_server_restarts_on_its_port() {
    let mut server = NatsServer::start();
    let port = server.port();
    server.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    server.restart();
    assert_eq!(server.port(), port);
    let client = server.client();
    let sub = client.subscribe("x", None);
    client.publish("x", None, b"after restart");
    assert_eq!(sub.next(WAIT).unwrap().payload, b"after restart");
}
