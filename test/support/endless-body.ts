/** A client that never stops sending: what a refused request's unread body looks like to a server. */
import { connect } from "node:net";

/**
 * Sends a request head, then an endless chunked body; resolves once the server has closed the
 * connection (as long as the test's own timeout allows: a server closes a refused request's
 * socket a second after its answer) with the status line and the answer's head, lowercased.
 */
export function endlessBody(address: string, head: string): Promise<{ statusLine: string; head: string }> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve) => {
    const s = connect(Number(port), host);
    let out = "";
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => {
      const [answerHead = ""] = out.split("\r\n\r\n");
      resolve({ statusLine: answerHead.split("\r\n")[0] ?? "", head: answerHead.toLowerCase() });
    });
    s.write(`${head}transfer-encoding: chunked\r\n\r\n`);
    const chunk = `${(16 * 1024).toString(16)}\r\n${"z".repeat(16 * 1024)}\r\n`;
    const pump = () => {
      if (s.destroyed) return;
      if (s.write(chunk)) setImmediate(pump);
      else s.once("drain", pump);
    };
    pump();
  });
}
