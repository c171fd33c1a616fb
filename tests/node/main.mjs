// What the test runs: node main.mjs <redis url> <command> <arguments>, one JSON line out.
//   link <user id>                 the deep link, as createLink makes it
//   publish <channel> <json>       the bots that heard it
//   add <stream> <json>            the stream entry's id
import { addToStream, createLink, publish } from "./notify.mjs";
import { createClient } from "./resp.mjs";

const [url, command, ...args] = process.argv.slice(2);
const redis = await createClient({ url }).connect();
try {
  let result;
  if (command === "link") result = await createLink(redis, Number(args[0]));
  else if (command === "publish") result = await publish(redis, JSON.parse(args[1]), args[0]);
  else if (command === "add") result = await addToStream(redis, JSON.parse(args[1]), args[0]);
  else throw new Error(`unknown command ${command}`);
  console.log(JSON.stringify(result));
} finally {
  await redis.quit();
}
