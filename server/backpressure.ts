/**
 * Per-socket backpressure shared by synthesis and scoring streams: a stream gets no more work while
 * its socket buffers more than `highWaterMark` bytes, and resumes below `lowWaterMark`. ws has no
 * 'drain' event of its own, so while any stream is paused a 20 ms timer watches the sockets and
 * pumps once more when one has drained (or closed).
 */
import type { StreamSink } from './scheduler.js';

export interface Pausable {
  paused: boolean;
  readonly req: { readonly sink: StreamSink };
}

export interface WaterMarks {
  highWaterMark: number;
  lowWaterMark: number;
}

export class Backpressure<S extends Pausable> {
  /** Times a stream paused, and the largest buffer seen on a paused one (bytes), for stats and tests. */
  pauses = 0;
  maxBufferedSeen = 0;
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly marks: WaterMarks,
    private readonly streams: () => Iterable<S>,
    private readonly pump: () => void,
    private readonly onPause?: (s: S) => void,
  ) {}

  /** Updates the stream's paused state from its socket; true while it should get no more work. */
  held(s: S): boolean {
    const b = s.req.sink.bufferedAmount;
    if (s.paused) {
      if (b < this.marks.lowWaterMark) s.paused = false;
    } else if (b > this.marks.highWaterMark) {
      s.paused = true;
      this.pauses++;
      this.maxBufferedSeen = Math.max(this.maxBufferedSeen, b);
      this.onPause?.(s);
      this.watch();
    }
    return s.paused;
  }

  stop(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  private watch(): void {
    if (this.poll) return;
    this.poll = setInterval(() => {
      let any = false;
      for (const s of this.streams()) {
        if (!s.paused) continue;
        this.maxBufferedSeen = Math.max(this.maxBufferedSeen, s.req.sink.bufferedAmount);
        if (s.req.sink.open && this.held(s)) any = true;
      }
      if (!any) this.stop();
      this.pump();
    }, 20);
    this.poll.unref?.();
  }
}
