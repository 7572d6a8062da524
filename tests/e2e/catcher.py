#!/usr/bin/env python3
"""End-to-end suite against a real SMTP catcher (MailDev).

Starts MailDev on free loopback ports, drives the real `gazette` binary
against it (import, send post, send digest, the web subscribe -> confirm ->
unsubscribe flow through `gazette worker`), reads every caught message back through MailDev's REST
API and checks it with Python's own MIME parser (an independent reader of
what lettre wrote).

    GAZETTE_BIN=target/debug/gazette MAILDEV=.tools/maildev/node_modules/.bin/maildev \
        python3 tests/e2e/catcher.py

Uses only the standard library. Traffic goes to 127.0.0.1 only.
"""

import base64
import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GAZETTE = os.path.abspath(os.environ.get("GAZETTE_BIN", os.path.join(ROOT, "target/debug/gazette")))
MAILDEV = os.environ.get("MAILDEV", os.path.join(ROOT, ".tools/maildev/node_modules/.bin/maildev"))

TITLE = "Systèmes — Notes"
SUBSCRIBERS = [
    ("zoe@example.org", "Zoë Ünal"),
    ("li@example.org", "李 小龍"),
    ("plain@example.org", "Plain Name"),
]


DKIM_SEED = bytes(range(32))


def dkim_verify(raw):
    """Verify an ed25519-sha256 DKIM signature with relaxed/relaxed
    canonicalization (RFC 6376, RFC 8463), independently of lettre."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = []  # (name, raw "name:value" with folding)
    for line in lines:
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + b"\r\n" + line)
        else:
            headers.append((line.split(b":", 1)[0].strip().lower(), line))

    def relaxed(h):
        name, value = h.split(b":", 1)
        value = re.sub(rb"[ \t]+", b" ", re.sub(rb"\r\n([ \t])", rb"\1", value)).strip()
        return name.strip().lower() + b":" + value

    sig = next(h for n, h in headers if n == b"dkim-signature")
    tags = {k.strip(): v for k, v in (t.split(b"=", 1) for t in re.sub(rb"\s+", b"", sig.split(b":", 1)[1]).split(b";") if t)}
    assert tags[b"a"] == b"ed25519-sha256" and tags[b"c"] == b"relaxed/relaxed", tags
    # Body hash.
    blines = [re.sub(rb"[ \t]+", b" ", l).rstrip(b" \t") for l in body.split(b"\r\n")]
    while blines and blines[-1] == b"":
        blines.pop()
    canon_body = b"".join(l + b"\r\n" for l in blines)
    assert base64.b64encode(hashlib.sha256(canon_body).digest()) == tags[b"bh"], "body hash mismatch"
    # Header hash: the signed headers, then the signature header without b=.
    data = b""
    for name in tags[b"h"].lower().split(b":"):
        found = [h for n, h in headers if n == name]
        if found:
            data += relaxed(found[-1]) + b"\r\n"
    name, value = relaxed(sig).split(b":", 1)
    unsigned = name + b":" + re.sub(rb"((?:^|;)\s*b=)[^;]*", rb"\1", value)
    data += unsigned
    public = Ed25519PrivateKey.from_private_bytes(DKIM_SEED).public_key()
    public.verify(base64.b64decode(tags[b"b"]), hashlib.sha256(data).digest())
    return tags[b"h"].lower().split(b":")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Catcher:
    def __init__(self):
        self.smtp = free_port()
        self.web = free_port()
        self.proc = subprocess.Popen(
            [MAILDEV, "--smtp", str(self.smtp), "--web", str(self.web),
             "--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                status, _ = http("GET", self.api("/api/email"))
                if status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("MailDev did not start")
            time.sleep(0.2)

    def api(self, path):
        return f"http://127.0.0.1:{self.web}{path}"

    def clear(self):
        http("DELETE", self.api("/api/email/all"))

    def messages(self, expect, timeout=20):
        """Wait until `expect` messages are caught; return them parsed."""
        deadline = time.time() + timeout
        while True:
            status, body = http("GET", self.api("/api/email"))
            listed = json.loads(body)
            if len(listed) >= expect or time.time() > deadline:
                break
            time.sleep(0.2)
        out = []
        for m in listed:
            status, raw = http("GET", self.api(f"/api/email/{m['id']}/source"))
            assert status == 200, status
            out.append((raw, email.message_from_bytes(raw, policy=email.policy.default)))
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Project:
    def __init__(self, catcher):
        self.dir = tempfile.mkdtemp(prefix="gazette-e2e-")
        self.web = free_port()
        self.public = f"http://127.0.0.1:{self.web}"
        shutil.copytree(os.path.join(ROOT, "posts"), os.path.join(self.dir, "posts"))
        with open(os.path.join(self.dir, "gazette.toml"), "w", encoding="utf-8") as f:
            f.write(f"""
[newsletter]
title = "{TITLE}"
from = "Zoë Author <news@example.com>"
reply_to = "author@example.com"
base_url = "https://example.com/blog"
public_url = "{self.public}"
postal_address = "1 Rue de l'Exemple, 75001 Paris"
[smtp]
url = "smtp://127.0.0.1:{catcher.smtp}"
retry_delay = "200ms"
[web]
subscribe_limit = 0
[dkim]
domain = "example.com"
selector = "e2e"
private_key_path = "dkim.key"
""")
        with open(os.path.join(self.dir, "dkim.key"), "w") as f:
            f.write(base64.b64encode(DKIM_SEED).decode() + "\n")
        with open(os.path.join(self.dir, "list.csv"), "w", encoding="utf-8") as f:
            f.write("email,name\n" + "".join(f"{e},{n}\n" for e, n in SUBSCRIBERS))

    def run(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAZETTE_")}
        env["GAZETTE_NOW"] = "2026-11-23T12:00:00Z"
        p = subprocess.run([GAZETTE, *args], cwd=self.dir, env=env, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"gazette {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def subscribers(self):
        return {s["email"]: s for s in json.loads(self.run("subscribers", "list", "--json").stdout)}


def parts(msg):
    """The decoded text/plain and text/html parts of a multipart/alternative message."""
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    subtypes = [p.get_content_type() for p in msg.iter_parts()]
    assert subtypes == ["text/plain", "text/html"], subtypes
    return {p.get_content_subtype(): p.get_content() for p in msg.iter_parts()}


class CatcherSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.catcher = Catcher()
        cls.project = Project(cls.catcher)
        cls.project.run("subscribers", "import", "list.csv", "--confirmed")

    @classmethod
    def tearDownClass(cls):
        cls.catcher.stop()
        shutil.rmtree(cls.project.dir, ignore_errors=True)

    def setUp(self):
        self.catcher.clear()

    def check_campaign_message(self, raw, msg, subject):
        # Structure and encoding as an independent parser reads them.
        self.assertEqual(msg.defects, [], "message defects")
        for p in msg.walk():
            self.assertEqual(list(p.defects), [], f"defects in {p.get_content_type()}")
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 998, "line longer than RFC 5322 allows")
        head = raw.split(b"\r\n\r\n", 1)[0]
        self.assertTrue(all(b < 128 for b in head), "headers must be 7-bit (RFC 2047 encoded)")
        self.assertEqual(str(msg["Subject"]), subject)
        self.assertEqual(msg["From"].addresses[0].display_name, "Zoë Author")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "news@example.com")
        self.assertEqual(str(msg["Reply-To"]), "author@example.com")
        self.assertTrue(msg["Message-ID"].endswith("@example.com>"))
        self.assertIsNotNone(msg["Date"])
        self.assertEqual(str(msg["MIME-Version"]), "1.0")
        self.assertEqual(str(msg["List-Unsubscribe-Post"]), "List-Unsubscribe=One-Click")
        self.assertEqual(str(msg["Precedence"]), "bulk")
        self.assertIn("<", str(msg["List-Id"]))
        to = msg["To"].addresses[0]
        expected_name = dict(SUBSCRIBERS)[to.addr_spec]
        self.assertEqual(to.display_name, expected_name)
        unsub = str(msg["List-Unsubscribe"])
        m = re.fullmatch(re.escape(f"<{self.project.public}/unsubscribe/") + r"([0-9a-f]+\.[0-9a-f]{32})>", unsub)
        self.assertIsNotNone(m, unsub)
        body = parts(msg)
        link = f"{self.project.public}/unsubscribe/{m.group(1)}"
        self.assertIn(link, body["plain"])
        self.assertIn(f'href="{link}"', body["html"])
        self.assertIn("1 Rue de l'Exemple", body["plain"])
        self.assertIn("1 Rue de l'Exemple, 75001 Paris</p>", body["html"])
        self.assertIn(to.addr_spec, body["plain"])
        self.assertNotIn("<style", body["html"])
        signed = dkim_verify(raw)
        self.assertIn(b"list-unsubscribe", signed)
        self.assertIn(b"list-unsubscribe-post", signed)
        return to.addr_spec, m.group(1), body

    def test_1_send_post(self):
        self.project.run("send", "post", "rust-and-c-at-the-assembly-level", "--yes")
        caught = self.catcher.messages(len(SUBSCRIBERS))
        self.assertEqual(len(caught), len(SUBSCRIBERS), "each subscriber once, nothing twice")
        seen = set()
        for raw, msg in caught:
            addr, _, body = self.check_campaign_message(raw, msg, f"{TITLE}: Rust and C compared at the assembly level")
            self.assertNotIn(addr, seen, "caught twice")
            seen.add(addr)
            self.assertIn("xs.iter().sum()", body["plain"])
            # The code block highlighted with inline styles (spans between
            # the tokens), its text intact.
            code = re.sub(r"<[^>]+>", "", body["html"])
            self.assertIn("xs.iter().sum()", code)
            self.assertIn('<span style="color:', body["html"])
            self.assertIn('href="https://example.com/blog/rust-and-c-at-the-assembly-level/notes/c-flags.html"', body["html"])
        self.assertEqual(seen, {e for e, _ in SUBSCRIBERS})
        show = json.loads(self.project.run("campaigns", "show", "1", "--json").stdout)
        self.assertEqual((show["status"], show["sent"]), ("done", len(SUBSCRIBERS)))

    def test_2_send_digest(self):
        self.project.run("send", "digest", "--since", "2026-11-01", "--until", "2026-11-21", "--yes")
        caught = self.catcher.messages(len(SUBSCRIBERS))
        self.assertEqual(len(caught), len(SUBSCRIBERS))
        for raw, msg in caught:
            _, _, body = self.check_campaign_message(raw, msg, f"{TITLE}: 5 new posts")
            text = body["plain"]
            order = [text.index(t) for t in [
                "Blue-team CTF write-up", "A virtualised lab", "Rust and C compared",
                "Why goroutines are cheap", "Four models of shared state"]]
            self.assertEqual(order, sorted(order), "newest first")
            self.assertIn("Read more: https://example.com/blog/why-goroutines-are-cheap/", text)
        self.assertEqual(len({m["To"].addresses[0].addr_spec for _, m in caught}), len(SUBSCRIBERS))

    def test_3_subscribe_confirm_unsubscribe_over_the_web(self):
        server = subprocess.Popen(
            [GAZETTE, "worker", "--listen", f"127.0.0.1:{self.project.web}"],
            cwd=self.project.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # No fixed admin port: other suites may run at the same time.
            env={**{k: v for k, v in os.environ.items() if not k.startswith("GAZETTE_")},
                 "GAZETTE_ADMIN_LISTEN": "127.0.0.1:0"},
        )
        try:
            deadline = time.time() + 20
            while True:
                try:
                    if http("GET", f"{self.project.public}/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                self.assertLess(time.time(), deadline, "server did not start")
                time.sleep(0.1)
            # As a person does: the page's form carries a signed token and
            # an empty honeypot; it is sent after the minimum fill time.
            status, page = http("GET", f"{self.project.public}/")
            self.assertEqual(status, 200)
            token = re.search(r'name="token" value="([^"]+)"', page.decode()).group(1)
            time.sleep(3.2)
            status, _ = http("POST", f"{self.project.public}/subscribe",
                             data=urllib.parse.urlencode({"email": "new@example.org", "name": "Nöé New",
                                                          "token": token, "website": ""}).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 200)
            (raw, msg), = self.catcher.messages(1)
            self.assertEqual(msg.defects, [])
            # The confirmation goes to the bare address: the name is unproven
            # until the link is followed (then it becomes the subscriber's).
            self.assertEqual(msg["To"].addresses[0].display_name, "")
            self.assertEqual(msg["To"].addresses[0].addr_spec, "new@example.org")
            self.assertIsNone(msg["List-Unsubscribe"], "a confirmation is not list mail")
            body = parts(msg)
            link = re.search(re.escape(self.project.public) + r"/confirm/[0-9a-f]+\.[0-9a-f]{32}", body["plain"]).group(0)
            self.assertIn(f'href="{link}"', body["html"])
            # Opening the link changes nothing (mail scanners open links
            # too); its page's button POSTs to the same URL.
            status, page = http("GET", link)
            self.assertEqual(status, 200, page)
            self.assertIn(b'<form method="post"', page)
            self.assertEqual(self.project.subscribers()["new@example.org"]["status"], "pending")
            status, page = http("POST", link, data=b"")
            self.assertEqual(status, 200, page)
            self.assertEqual(self.project.subscribers()["new@example.org"]["status"], "active")
            # One welcome email follows the confirmation, now with the name.
            caught = self.catcher.messages(2)
            welcome = [m for _, m in caught if str(m["Subject"]).startswith("Welcome to")]
            self.assertEqual(len(welcome), 1, [str(m["Subject"]) for _, m in caught])
            self.assertEqual(welcome[0]["To"].addresses[0].display_name, "Nöé New")

            # Now a campaign reaches the new subscriber; its one-click link works.
            self.catcher.clear()
            self.project.run("send", "post", "why-goroutines-are-cheap", "--yes")
            caught = self.catcher.messages(len(SUBSCRIBERS) + 1)
            mine = [m for _, m in caught if m["To"].addresses[0].addr_spec == "new@example.org"]
            self.assertEqual(len(mine), 1)
            self.assertEqual(mine[0]["To"].addresses[0].display_name, "Nöé New")
            unsub = str(mine[0]["List-Unsubscribe"]).strip("<>")
            status, _ = http("POST", unsub, data=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 200)
            self.assertEqual(self.project.subscribers()["new@example.org"]["status"], "unsubscribed")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    for path, what in [(GAZETTE, "the gazette binary (cargo build)"), (MAILDEV, "MailDev (npm install --prefix .tools/maildev maildev@3)")]:
        if not os.path.exists(path):
            sys.exit(f"missing {what}: {path}")
    unittest.main(verbosity=2)
