// Package hub is the agent's event hub: it fans events published by other packages (project
// progress, logs, recovery operations, circuit breakers) out to UI clients, over two transports
// sharing one set of subscriptions:
//
//   - /ws: plain WebSocket, JSON text frames {"event": name, "data": {...}} in both directions;
//   - /socket.io/: Engine.IO v4 (HTTP long-polling, websocket, and the upgrade between them)
//     carrying Socket.IO v5 on namespace "/", so the stock socket.io-client works with its
//     defaults. No binary attachments.
//
// Publishing never blocks: every client has a bounded queue (queue.go); progress_update frames
// of one topic are coalesced while a client lags, and a client whose queue still overflows is
// disconnected. Clients subscribe with subscribe_project, subscribe_logs and subscribe_recovery;
// a subscription first delivers a snapshot of the current state (SnapshotFunc), then changes.
//
// Files: hub.go (core, Publish), queue.go (client queue), client.go (framing), dispatch.go
// (client events), ws.go (/ws), socketio.go (Engine.IO request routing and errors),
// eio_session.go (Engine.IO session and Socket.IO socket), eio_polling.go (long-polling),
// eio_ws.go (websocket transport and upgrade), sio_packet.go (Socket.IO codec).
package hub
