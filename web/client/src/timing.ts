// Named moments of opening a document, for finding where a cold start
// spends its time (web/e2e/bench.mjs prints them). Times are milliseconds
// since the Unix epoch at sub-millisecond resolution (performance.timeOrigin
// + performance.now()), so marks taken in a worker and in its page compare.

export interface StartupMark {
  /** What happened, e.g. "core instantiated". */
  name: string;
  /** When, in ms since the epoch. */
  at: number;
  /** A detail worth printing, e.g. "16 handles". */
  detail?: string;
}

/** Now, in the marks' clock. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Collects marks in the order they were taken. */
export class StartupMarks {
  readonly marks: StartupMark[] = [];

  mark(name: string, detail?: string): void {
    this.marks.push(detail === undefined ? { name, at: epochNow() } : { name, at: epochNow(), detail });
  }
}
