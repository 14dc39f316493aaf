"""The notifier: at-least-once delivery, and notices only to addresses the rule allows
(real Redis, real HTTP receivers on loopback)."""


def test_notices_left_by_a_dead_worker_go_back_on_the_queue(r, tmp_path):
    import json as json_

    from shared import keys
    from shared.settings import Settings
    from worker.notifier import Notifier

    r.rpush(keys.notifications_sending("dead"), json_.dumps({"run_id": "a" * 32}))
    r.rpush(keys.notifications_sending("alive"), json_.dumps({"run_id": "b" * 32}))
    r.sadd(keys.WORKERS, "alive")
    r.set(keys.worker_heartbeat("alive"), "{}")
    notifier = Notifier(r, Settings(results_dir=str(tmp_path)), "me")
    notifier.requeue_orphaned()
    assert [json_.loads(x)["run_id"] for x in r.lrange(keys.NOTIFICATIONS, 0, -1)] == ["a" * 32]
    assert r.llen(keys.notifications_sending("alive")) == 1, "a live worker keeps what it is sending"


class Receiver:
    """A real HTTP server on loopback that answers POSTs with ``reply(path)``: a status
    code, or a URL to redirect to (307)."""

    def __init__(self, reply):
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
                answer = reply(self.path)
                if isinstance(answer, str):
                    self.send_response(307)
                    self.send_header("Location", answer)
                else:
                    self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_redirect_to_an_internal_address_is_not_followed(caplog):
    from shared.notify_targets import TargetPolicy
    from worker.notifier import post_json

    inner = Receiver(lambda path: 200)  # e.g. an admin endpoint on the worker's own box
    outer = Receiver(lambda path: f"http://127.0.0.1:{inner.port}/admin")
    try:
        # The receiver's host is allowed by name; where it redirects is checked again.
        policy = TargetPolicy(allowed_hosts=frozenset({"localhost"}))
        assert post_json(f"http://localhost:{outer.port}/hook", {"text": "hi"}, policy, tries=2) is False
        assert [p for p, _ in outer.received] == ["/hook"], "refused at once, not retried"
        assert inner.received == [], "the redirect was not followed"
        assert "127.0.0.1, a loopback address" in caplog.text
        # Lifted rule: the same redirect is followed, keeping the POST and its body.
        open_policy = TargetPolicy(allow_private=True)
        assert post_json(f"http://localhost:{outer.port}/hook", {"text": "hi"}, open_policy) is True
        assert inner.received == [("/admin", b'{"text": "hi"}')]
    finally:
        inner.close()
        outer.close()


def test_send_time_check_refuses_a_name_that_now_resolves_inside(caplog):
    """Submit-time checks can be outlived by DNS: the connection itself is vetted."""
    from shared.notify_targets import TargetPolicy
    from worker.notifier import post_json

    inbox = Receiver(lambda path: 200)
    try:
        secret_url = f"http://localhost:{inbox.port}/services/T0/B0/SECRET"
        assert post_json(secret_url, {"text": "x"}, TargetPolicy(), tries=3) is False
        assert inbox.received == [], "no connection was made"
        assert "SECRET" not in caplog.text and "http://localhost/…" in caplog.text, "logs mask the URL"
        assert post_json(secret_url, {"text": "x"}, TargetPolicy(allowed_hosts=frozenset({"localhost"})))
        assert len(inbox.received) == 1
    finally:
        inbox.close()
