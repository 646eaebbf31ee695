#!/usr/bin/env node
// End-to-end Socket.IO client for the agent's event hub, driven by
// agent/internal/hub/socketio_e2e_test.go. It uses the real socket.io-client and prints one JSON
// object per line on stdout for every step, so the Go side can follow and assert:
//   open -> connected -> [upgraded] -> acked -> progress -> (server restart) -> disconnect ->
//   open -> connected -> [upgraded] -> acked -> progress -> done
// plus a "ping" step for every Engine.IO heartbeat the server sends.
//
// --transport: default (the client's own choice: polling, then upgrade to websocket; the script
// waits for the upgrade), websocket, or polling (only that transport).
//
// usage: node sio-client.js <url> [--transport default|websocket|polling] [--token T] [--token-via auth|query]
//                                 [--project ID] [--connects N] [--expect-connect-error]
//                                 [--timeout-ms MS]
"use strict";

const { io } = require("socket.io-client");

function parseArgs(argv) {
  const args = {
    url: argv[0],
    transport: "default",
    token: "",
    tokenVia: "auth",
    project: "p-e2e",
    connects: 2,
    expectConnectError: false,
    timeoutMs: 30000,
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--transport") args.transport = next();
    else if (a === "--token") args.token = next();
    else if (a === "--token-via") args.tokenVia = next();
    else if (a === "--project") args.project = next();
    else if (a === "--connects") args.connects = Number(next());
    else if (a === "--expect-connect-error") args.expectConnectError = true;
    else if (a === "--timeout-ms") args.timeoutMs = Number(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.url) throw new Error("usage: sio-client.js <url> [options]");
  return args;
}

const args = parseArgs(process.argv.slice(2));
const log = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const finish = (code) => {
  socket.close();
  process.exit(code);
};

const opts = { reconnectionDelay: 100, reconnectionDelayMax: 500, timeout: 5000 };
if (args.transport !== "default") opts.transports = [args.transport];
if (args.token) {
  if (args.tokenVia === "query") opts.query = { token: args.token };
  else opts.auth = { token: args.token };
}
const socket = io(args.url, opts);

setTimeout(() => {
  log({ step: "timeout", after_ms: args.timeoutMs });
  finish(2);
}, args.timeoutMs).unref();

// Resolves once the engine runs over websocket (immediately if it already does).
function upgraded() {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    engine.once("upgrade", () => resolve());
    engine.once("upgradeError", (err) => reject(new Error(`upgrade failed: ${err.message}`)));
  });
}

let connects = 0;

socket.io.on("ping", () => log({ step: "ping" }));
socket.io.on("open", () => log({ step: "open", transport: socket.io.engine.transport.name }));
socket.on("disconnect", (reason) => log({ step: "disconnect", reason }));
socket.on("connect_error", (err) => {
  log({ step: "connect_error", message: err.message });
  if (args.expectConnectError) finish(0);
});

socket.on("connected", async (data) => {
  connects++;
  log({ step: "connected", n: connects, sid: data.sid, message: data.message, transport: socket.io.engine.transport.name });
  try {
    if (args.transport === "default") {
      await upgraded();
      log({ step: "upgraded", transport: socket.io.engine.transport.name });
    }
    // A callback, not emitWithAck: a promise would resolve a microtask later, after events
    // that arrived in the same read, and the log would not show the wire order.
    socket.timeout(5000).emit("subscribe_project", { project_id: args.project }, (err, ack) => {
      if (err) {
        log({ step: "error", message: `no ack for subscribe_project: ${err.message}` });
        finish(1);
      }
      log({ step: "acked", ack });
    });
  } catch (err) {
    log({ step: "error", message: err.message });
    finish(1);
  }
});

socket.on("progress_update", (data) => {
  log({ step: "progress", n: connects, data });
  if (connects >= args.connects) {
    log({ step: "done" });
    finish(0);
  }
});

socket.on("error", (data) => log({ step: "server_error", data }));
