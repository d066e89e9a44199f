/** Single-flight: a dispatch's subproblems, as other requests computing the same ones wait for them. */
import type { Flight, FlightResult, RequestState } from "./request-context.js";

/** One object per dispatch (no closures): most flights are never waited on. */
export class OwnFlight implements Flight {
  private waiters: Map<string, ((r: FlightResult) => void)[]> | undefined;
  private answer: ((id: string) => FlightResult) | undefined;

  constructor(readonly owner: RequestState) {}

  wait(id: string): Promise<FlightResult> {
    if (this.answer !== undefined) return Promise.resolve(this.answer(id));
    return new Promise<FlightResult>((resolve) => {
      this.waiters ??= new Map();
      const list = this.waiters.get(id);
      if (list === undefined) this.waiters.set(id, [resolve]);
      else list.push(resolve);
    });
  }

  settle(fn: (id: string) => FlightResult): void {
    this.answer = fn;
    if (this.waiters === undefined) return;
    for (const [id, list] of this.waiters) {
      const r = fn(id);
      for (const resolve of list) resolve(r);
    }
    this.waiters = undefined;
  }
}

export function waitsFor(owner: RequestState, me: RequestState): boolean {
  for (let o: RequestState | undefined = owner; o !== undefined; o = o.waitingOn) if (o === me) return true;
  return false;
}
