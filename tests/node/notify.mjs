// Publish to Notify Bot and link a chat, with node-redis (npm install redis).
import { randomBytes } from "node:crypto";

// Pub/sub: delivered by the bot listening now; nothing is kept for a bot that is down.
export async function publish(redis, notification, channel = "notification") {
  return redis.publish(channel, JSON.stringify(notification));
}

// The durable stream: kept until the bot has sent it. A stream per priority: high and bulk
// (the default of a fan-out) go to "<stream>:high" and "<stream>:bulk".
export async function addToStream(redis, notification, stream = "notifications") {
  const fanOut = notification.user_ids !== undefined || notification.audience !== undefined;
  const priority = notification.priority ?? (fanOut ? "bulk" : "normal");
  const name = stream + ({ high: ":high", bulk: ":bulk" }[priority] ?? "");
  return redis.xAdd(name, "*", { payload: JSON.stringify(notification) }, {
    TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 100000 },
  });
}

// A single-use deep link: whoever opens it links their chat to userId.
export async function createLink(redis, userId, { ttl = 86400, group = false } = {}) {
  const username = await redis.get("notify:bot_username"); // written by the running bot
  if (!username) throw new Error("the bot's username is unknown: start the bot once");
  const token = randomBytes(32).toString("base64url"); // 43 characters of A-Za-z0-9_-
  const value = group ? `${userId}:group` : String(userId);
  await redis.set(`notify:link:${token}`, value, { EX: ttl });
  return `https://t.me/${username}?${group ? "startgroup" : "start"}=${token}`;
}
