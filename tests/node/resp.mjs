// A stand-in for node-redis's createClient, over node:net and RESP2: just the commands
// notify.mjs calls, with node-redis's signatures, so the test needs nothing from npm.
import net from "node:net";

function encode(args) {
  const parts = args.map((arg) => {
    const text = String(arg);
    return `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  });
  return `*${args.length}\r\n${parts.join("")}`;
}

// One reply from buffer at offset: [value, next offset], or null while incomplete.
function parse(buffer, offset) {
  const end = buffer.indexOf("\r\n", offset);
  if (end < 0) return null;
  const kind = String.fromCharCode(buffer[offset]);
  const line = buffer.toString("utf8", offset + 1, end);
  if (kind === "+") return [line, end + 2];
  if (kind === "-") return [new Error(line), end + 2];
  if (kind === ":") return [Number(line), end + 2];
  if (kind === "$") {
    const size = Number(line);
    if (size < 0) return [null, end + 2];
    if (buffer.length < end + 2 + size + 2) return null;
    return [buffer.toString("utf8", end + 2, end + 2 + size), end + 2 + size + 2];
  }
  if (kind === "*") {
    const items = [];
    let at = end + 2;
    for (let i = 0; i < Number(line); i++) {
      const item = parse(buffer, at);
      if (item === null) return null;
      items.push(item[0]);
      at = item[1];
    }
    return [items, at];
  }
  throw new Error(`unexpected reply type ${kind}`);
}

export function createClient({ url }) {
  const parsed = new URL(url);
  const database = Number(parsed.pathname.slice(1) || 0);
  const waiting = [];
  let buffer = Buffer.alloc(0);
  let socket;

  function send(...args) {
    return new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      socket.write(encode(args));
    });
  }

  function onData(chunk) {
    buffer = Buffer.concat([buffer, chunk]);
    for (let reply = parse(buffer, 0); reply !== null; reply = parse(buffer, 0)) {
      buffer = buffer.subarray(reply[1]);
      const { resolve, reject } = waiting.shift();
      if (reply[0] instanceof Error) reject(reply[0]);
      else resolve(reply[0]);
    }
  }

  return {
    async connect() {
      await new Promise((resolve, reject) => {
        socket = net.connect(Number(parsed.port || 6379), parsed.hostname, resolve);
        socket.once("error", reject);
      });
      socket.on("data", onData);
      if (parsed.password) await send("AUTH", decodeURIComponent(parsed.password));
      if (database) await send("SELECT", database);
      return this;
    },
    publish: (channel, message) => send("PUBLISH", channel, message),
    get: (key) => send("GET", key),
    set: (key, value, options = {}) =>
      options.EX === undefined ? send("SET", key, value) : send("SET", key, value, "EX", options.EX),
    xAdd(key, id, message, options = {}) {
      const trim = options.TRIM;
      const capped = trim ? [trim.strategy, trim.strategyModifier ?? "=", trim.threshold] : [];
      return send("XADD", key, ...capped, id, ...Object.entries(message).flat());
    },
    async quit() {
      await send("QUIT");
      socket.end();
    },
  };
}
