/** `--datastore-read-replica` as the CLI reads it: the list, its log form, and where it is refused. */
import { describe, expect, it } from "vitest";
import { describeDatastore, openDatastore, readReplicaUrls } from "../../src/cli/datastore.js";

describe("--datastore-read-replica", () => {
  it("takes the repeated flag, or one environment value separated by commas or spaces", () => {
    expect(readReplicaUrls(undefined)).toEqual([]);
    expect(readReplicaUrls(["postgres://a/x", "postgres://b/x"])).toEqual([
      "postgres://a/x",
      "postgres://b/x",
    ]);
    expect(readReplicaUrls("postgres://a/x, postgres://b/x postgres://c/x")).toEqual([
      "postgres://a/x",
      "postgres://b/x",
      "postgres://c/x",
    ]);
  });

  it("is named in the datastore's description, without passwords", () => {
    const text = describeDatastore({
      datastore: "postgres://u:secret@p:5432/db",
      db: "unused.db",
      readReplicas: ["postgres://u:secret@s1:5432/db"],
    });
    expect(text).toContain("read replicas postgres://u:***@s1:5432/db");
    expect(text).not.toContain("secret");
  });

  it("is refused with a SQLite datastore, saying why", async () => {
    await expect(openDatastore({ db: ":memory:", readReplicas: ["postgres://s1:5432/db"] })).rejects.toThrow(
      /needs a PostgreSQL --datastore/,
    );
  });
});
