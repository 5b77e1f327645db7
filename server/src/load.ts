// The overload signal for free service: how late the event loop runs timers. Everything a peer
// costs (noise, the muxers, protobuf, the synchronous SQLite archive) runs on this one loop, so its
// delay is what a subscriber's next query would wait; while it lags, free queries are shed.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export class EventLoopLoad {
  readonly #histogram: IntervalHistogram;
  readonly #timer: ReturnType<typeof setInterval>;
  #delayMs = 0;

  /** Samples every `resolutionMs`; the delay reported is the worst of the last `windowMs`. */
  constructor(windowMs = 100, resolutionMs = 5) {
    this.#histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      // The histogram counts the sampling interval in each sample; the lag is what exceeds it.
      this.#delayMs = this.#histogram.count === 0 ? this.#delayMs : Math.max(0, this.#histogram.max / 1e6 - resolutionMs);
      this.#histogram.reset();
    }, windowMs);
    this.#timer.unref();
  }

  /** The event loop's worst delay over the last window, ms. */
  get delayMs(): number {
    return this.#delayMs;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}
