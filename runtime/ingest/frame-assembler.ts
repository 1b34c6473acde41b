/**
 * Cuts ffmpeg's raw RGB byte stream into whole frames. Pipe reads end
 * anywhere: a chunk may hold half a frame or several; every frame is copied
 * into its own buffer exactly once.
 */
export class FrameAssembler {
  private current: Buffer;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new Error(`frame size must be a positive whole number of bytes, got ${frameBytes}`);
    this.current = Buffer.allocUnsafe(frameBytes);
  }

  /** Feeds one chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        frames.push(this.current);
        this.current = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
      }
    }
    return frames;
  }

  /** Drops a partial frame (after the reader restarts). */
  reset(): void {
    this.filled = 0;
  }

  get partialBytes(): number {
    return this.filled;
  }
}
