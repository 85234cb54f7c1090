// A Node.js test that drives `pop3mock serve` through its HTTP control API: add mail, inject
// a fault, run a POP3 client, verify on the server what the client did.
//
//   node --test examples/admin_node/
//
// POP3MOCK_PYTHON names the Python that has pop3mock installed (default: python3).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import net from "node:net";

// Start `pop3mock serve --admin-port 0` and read the POP3 port and the API's URL from its
// first lines ("listening on pop3://HOST:PORT", then "admin on http://HOST:PORT").
async function startPop3mock() {
  const python = process.env.POP3MOCK_PYTHON ?? "python3";
  const child = spawn(
    python,
    ["-m", "pop3mock", "serve", "--quiet", "--user", "alice:secret", "--fake", "0", "--admin-port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  let port;
  for await (const line of lines) {
    const listening = line.match(/^listening on pop3:\/\/[^:]+:(\d+)$/);
    if (listening) port = Number(listening[1]);
    const admin = line.match(/^admin on (http:\/\/\S+)$/);
    if (admin) return { child, port, api: admin[1] };
  }
  throw new Error("pop3mock serve exited before printing its admin line");
}

async function call(api, method, path, body, contentType = "application/json") {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType;
  }
  const reply = await fetch(api + path, init);
  return { status: reply.status, body: await reply.json() };
}

// The POP3 client under test: a small one over `net`, as an application would write it.
class Pop3Client {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const client = new Pop3Client(net.connect(port, "127.0.0.1"));
      client.socket.once("error", reject);
      client.socket.once("connect", async () => {
        await client.line(); // the greeting
        resolve(client);
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buffer = "";
    socket.setEncoding("latin1");
    socket.on("data", (data) => {
      this.buffer += data;
      this.wake?.();
    });
  }

  // Wait until the buffer holds `end`, then take everything up to it.
  async take(end) {
    while (!this.buffer.includes(end)) {
      await new Promise((resolve) => (this.wake = resolve));
    }
    const at = this.buffer.indexOf(end) + end.length;
    const text = this.buffer.slice(0, at);
    this.buffer = this.buffer.slice(at);
    return text;
  }

  line() {
    return this.take("\r\n");
  }

  async command(text) {
    this.socket.write(text + "\r\n");
    const status = await this.line();
    if (!status.startsWith("+OK")) throw new Error(status.trim());
    return status;
  }

  async retr(number) {
    await this.command(`RETR ${number}`);
    const body = (await this.take("\r\n.\r\n")).slice(0, -3);
    return body.replace(/^\.\./gm, ".");
  }

  async quit() {
    await this.command("QUIT");
    this.socket.end();
  }
}

test("a client that retries a RETR refused with [SYS/TEMP]", async () => {
  const { child, port, api } = await startPop3mock();
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    const message = "From: build@example.test\r\nSubject: build 42\r\n\r\nAll green.\r\n";
    const added = await call(api, "POST", "/users/alice/messages", message, "message/rfc822");
    assert.equal(added.status, 201);
    const fault = await call(api, "POST", "/faults", { spec: "RETR 1 once: error [SYS/TEMP] busy" });
    assert.equal(fault.status, 201);

    const client = await Pop3Client.connect(port);
    await client.command("USER alice");
    await client.command("PASS secret");
    await assert.rejects(client.retr(1), /\[SYS\/TEMP\] busy/);
    assert.equal(await client.retr(1), message);
    await client.quit();

    assert.equal((await call(api, "GET", "/journal/wait?sessions_ended=1&timeout=10")).status, 200);
    const verified = await call(api, "POST", "/journal/verify", { command: "RETR", args: ["1"], count: 2 });
    assert.equal(verified.status, 200, verified.body.message);
    const faults = await call(api, "GET", "/faults");
    assert.equal(faults.body.faults[0].fired, 1);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0);
});
