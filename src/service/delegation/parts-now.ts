/**
 * A delegated Check's parts asked one by one of the next decider's form answered at once
 * (engine/check-now.ts): the first at the request's consistency, the others pinned at its
 * revision. For the few parts of one chain, a CheckBulk's grouping, maps, pacer and item results
 * cost about as much as the parts' own walks; asked this way, most chains are answered on the
 * same turn with one request object a part. The answer is the bulk path's: every part is asked
 * (an error in a later part wins over an earlier DENIED, as the bulk fold has it), the first
 * failure is named as the delegated question's (`namedPartError`), and the verdict is the same
 * three-valued AND with the same witnesses.
 */
import { isLatchError } from "../../core/index.js";
import type { CheckNow, CheckRequest, CheckResult, Consistency, RequestOptions } from "../../engine/index.js";
import type { Chain } from "./chain.js";
import { namedPartError, type Part, resultOf, verdictOf } from "./parts.js";

/** `T` with each optional field also allowed as undefined (read as absent). */
type Loose<T> = { [K in keyof T]?: T[K] | undefined };

/** Whether a delegated Check may take this path: an explanation needs the bulk path's extra calls. */
export function answersNow(request: CheckRequest): boolean {
  return request.explain !== true;
}

/** The delegated Check's answer from its parts, at once unless a part has to be waited for. */
export function checkPartsNow(
  now: CheckNow,
  request: CheckRequest,
  parts: readonly Part[],
  chain: Chain,
  options: RequestOptions | undefined,
): CheckResult | Promise<CheckResult> {
  return new PartsRun(now, request, parts, chain, options).from(0);
}

class PartsRun {
  private readonly answers: CheckResult[] = [];
  /** The first answer's revision, for every later part. */
  private pinned: Consistency | undefined;
  private readonly witness: true | undefined;

  constructor(
    private readonly now: CheckNow,
    private readonly request: CheckRequest,
    private readonly parts: readonly Part[],
    private readonly chain: Chain,
    private readonly options: RequestOptions | undefined,
  ) {
    this.witness = request.witness === true ? true : undefined;
  }

  /** Asks the parts from the `i`th on; a promise only when one has to be waited for. */
  from(i: number): CheckResult | Promise<CheckResult> {
    for (; i < this.parts.length; i++) {
      let answered: CheckResult | Promise<CheckResult>;
      try {
        answered = this.now(this.requestOf(i), this.options);
      } catch (e) {
        throw this.named(e, i);
      }
      if (answered instanceof Promise) {
        const at = i;
        return answered.then(
          (answer) => {
            this.take(answer);
            return this.from(at + 1);
          },
          (e: unknown) => {
            throw this.named(e, at);
          },
        );
      }
      this.take(answered);
    }
    return this.result();
  }

  /**
   * One literal shape for every part (absent fields undefined, which the engine reads as absent):
   * the engine's reads of it stay monomorphic.
   */
  private requestOf(i: number): CheckRequest {
    const { resource, permission, subject, context } = this.parts[i]!.item;
    const consistency = i === 0 ? this.request.consistency : this.pinned;
    const asked: Loose<CheckRequest> = {
      resource,
      permission,
      subject,
      context,
      consistency,
      witness: this.witness,
    };
    return asked as CheckRequest;
  }

  private take(answer: CheckResult): void {
    if (this.pinned === undefined) this.pinned = { kind: "at-exact-snapshot", token: answer.token };
    this.answers.push(answer);
  }

  private named(e: unknown, i: number): unknown {
    return isLatchError(e) ? namedPartError(e, this.parts[i]!, this.chain.principals, "") : e;
  }

  private result(): CheckResult {
    return resultOf(verdictOf(this.parts, this.answers, this.witness === true), this.answers[0]!);
  }
}
