/**
 * Part presence from the video itself, for lines without a trigger wire.
 *
 * Method (cheap by design, a few ms per frame even at 1280x960):
 * 1. Each frame is reduced to a small grey thumbnail (default 32x32): every
 *    cell is the mean luma of a sparse grid of up to 8x8 samples of its block
 *    of pixels, so the cost depends on the thumbnail, not on the resolution.
 * 2. The empty-belt reference is the per-cell median of the first
 *    `referenceFrames` thumbnails (the belt must be empty at start-up), then a
 *    running average (weight `refreshRate`) of the frames seen while no part
 *    is present, so slow lighting drift does not look like a part.
 * 3. Occupancy = share of thumbnail cells inside the region of interest whose
 *    grey level differs from the reference by more than `cellThreshold`.
 * 4. Hysteresis: a part ENTERS when occupancy rises above `enterLevel` and
 *    LEAVES when it falls below `leaveLevel`; each passage is one part.
 *
 * Fully in view (see `fullyInView`): a frame shows the whole part when the
 * bounding box of its foreground cells does not touch the border of the region
 * of interest, and its occupancy is at least `inViewBand` of the passage's
 * maximum. A part sliding in or out is cut by the border (its box touches it)
 * or shows less area than when whole; golden samples show whole parts, so only
 * fully-in-view frames are scored into the part's verdict. The region of
 * interest must therefore be larger than a part, with a margin.
 */
import type { PresenceSettings } from '../../config/parts.ts';

/** A small grey image, row-major, one byte-range value (0..255) per cell. */
export interface Thumbnail {
  size: number;
  data: Float32Array;
}

/** Samples per cell side at most: bounds the cost at high resolutions. */
const SAMPLES_PER_CELL_SIDE = 8;

/** Reduces an RGB24 frame to a `size` x `size` grey thumbnail (mean luma per cell, sparse sampling). */
export function makeThumbnail(rgb: Uint8Array, width: number, height: number, size: number): Thumbnail {
  const data = new Float32Array(size * size);
  for (let cy = 0; cy < size; cy++) {
    const y0 = Math.floor((cy * height) / size);
    const y1 = Math.max(y0 + 1, Math.floor(((cy + 1) * height) / size));
    const stepY = Math.max(1, Math.floor((y1 - y0) / SAMPLES_PER_CELL_SIDE));
    for (let cx = 0; cx < size; cx++) {
      const x0 = Math.floor((cx * width) / size);
      const x1 = Math.max(x0 + 1, Math.floor(((cx + 1) * width) / size));
      const stepX = Math.max(1, Math.floor((x1 - x0) / SAMPLES_PER_CELL_SIDE));
      let sum = 0;
      let n = 0;
      for (let y = y0; y < y1; y += stepY) {
        let i = (y * width + x0) * 3;
        const di = stepX * 3;
        for (let x = x0; x < x1; x += stepX, i += di) {
          sum += rgb[i]! * 77 + rgb[i + 1]! * 150 + rgb[i + 2]! * 29;
          n++;
        }
      }
      data[cy * size + cx] = sum / n / 256;
    }
  }
  return { size, data };
}

/** Foreground bounding box in thumbnail cells (inclusive). */
export interface CellBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** What the detector saw on one frame. */
export interface PresenceObservation {
  /** The reference is still being learned: no occupancy yet. */
  learning: boolean;
  /** Share of ROI cells in the foreground (0..1). */
  occupancy: number;
  /** Bounding box of the foreground cells inside the ROI; null when there are none. */
  box: CellBox | null;
  /** The box touches the ROI border (the part may be cut by it). */
  touchesBorder: boolean;
  /** A part is in view after this frame. */
  present: boolean;
  /** A part entered or left on this frame. */
  event: 'enter' | 'leave' | null;
}

/** The ROI in thumbnail cells: [x0, x1) x [y0, y1). */
function roiCells(settings: PresenceSettings): { x0: number; y0: number; x1: number; y1: number } {
  const s = settings.thumbnailSize;
  const { x, y, w, h } = settings.roi;
  const x0 = Math.min(s - 1, Math.floor(x * s));
  const y0 = Math.min(s - 1, Math.floor(y * s));
  return { x0, y0, x1: Math.max(x0 + 1, Math.min(s, Math.ceil((x + w) * s))), y1: Math.max(y0 + 1, Math.min(s, Math.ceil((y + h) * s))) };
}

/** Per-cell median of thumbnails of equal size. */
export function medianThumbnail(thumbs: readonly Thumbnail[]): Thumbnail {
  const size = thumbs[0]!.size;
  const data = new Float32Array(size * size);
  const column = new Float32Array(thumbs.length);
  for (let i = 0; i < data.length; i++) {
    thumbs.forEach((t, k) => (column[k] = t.data[i]!));
    column.sort();
    data[i] = column[Math.floor((column.length - 1) / 2)]!;
  }
  return { size, data };
}

/** Occupancy and foreground box of `thumb` against `reference` inside the ROI. */
export function foreground(thumb: Thumbnail, reference: Thumbnail, settings: PresenceSettings): { occupancy: number; box: CellBox | null; touchesBorder: boolean } {
  const roi = roiCells(settings);
  const s = thumb.size;
  let cells = 0;
  let box: CellBox | null = null;
  for (let y = roi.y0; y < roi.y1; y++) {
    for (let x = roi.x0; x < roi.x1; x++) {
      const i = y * s + x;
      if (Math.abs(thumb.data[i]! - reference.data[i]!) <= settings.cellThreshold) continue;
      cells++;
      if (!box) box = { x0: x, y0: y, x1: x, y1: y };
      else {
        box.x0 = Math.min(box.x0, x);
        box.x1 = Math.max(box.x1, x);
        box.y0 = Math.min(box.y0, y);
        box.y1 = Math.max(box.y1, y);
      }
    }
  }
  const touchesBorder = box !== null && (box.x0 <= roi.x0 || box.y0 <= roi.y0 || box.x1 >= roi.x1 - 1 || box.y1 >= roi.y1 - 1);
  return { occupancy: cells / ((roi.x1 - roi.x0) * (roi.y1 - roi.y0)), box, touchesBorder };
}

/** The fully-in-view rule (see the module comment): whole part, not cut by the ROI border. */
export function fullyInView(obs: Pick<PresenceObservation, 'occupancy' | 'touchesBorder' | 'box'>, passageMaxOccupancy: number, inViewBand: number): boolean {
  return obs.box !== null && !obs.touchesBorder && obs.occupancy > 0 && obs.occupancy >= inViewBand * passageMaxOccupancy;
}

/** The necessary part of the fully-in-view rule that one frame can tell: some foreground, not cut by the border. */
function mayBeWhole(fg: { box: CellBox | null; touchesBorder: boolean }): boolean {
  return fg.box !== null && !fg.touchesBorder;
}

/** Learns the empty belt, then reports occupancy and part passages frame by frame. */
export class PresenceDetector {
  private learningFrames: Thumbnail[] = [];
  private reference: Thumbnail | null = null;
  private present = false;

  constructor(private readonly settings: PresenceSettings) {}

  /** The empty-belt reference has been learned. */
  get hasReference(): boolean {
    return this.reference !== null;
  }

  /**
   * Whether the next frame, `thumb`, may belong to a part: a part is in view,
   * or the frame would make one enter. Changes nothing (the frame is observed
   * later, with its score); frames of the empty belt need no scoring.
   */
  mayShowPart(thumb: Thumbnail): boolean {
    if (!this.reference) return false;
    const fg = foreground(thumb, this.reference, this.settings);
    return (this.present || fg.occupancy > this.settings.enterLevel) && mayBeWhole(fg);
  }

  /**
   * Whether `thumb` can be a fully-in-view frame (`fullyInView`): once the
   * reference is learned, a frame whose foreground is empty or touches the ROI
   * border never is, so it need not be scored. True while learning (every
   * frame may count then).
   */
  mayBeWhole(thumb: Thumbnail): boolean {
    return !this.reference || mayBeWhole(foreground(thumb, this.reference, this.settings));
  }

  observe(thumb: Thumbnail): PresenceObservation {
    if (thumb.size !== this.settings.thumbnailSize) throw new Error(`thumbnail is ${thumb.size} cells wide, presence.thumbnailSize is ${this.settings.thumbnailSize}`);
    if (!this.reference) {
      this.learningFrames.push(thumb);
      if (this.learningFrames.length >= this.settings.referenceFrames) {
        this.reference = medianThumbnail(this.learningFrames);
        this.learningFrames = [];
      }
      return { learning: true, occupancy: 0, box: null, touchesBorder: false, present: false, event: null };
    }
    const fg = foreground(thumb, this.reference, this.settings);
    let event: PresenceObservation['event'] = null;
    if (!this.present && fg.occupancy > this.settings.enterLevel) {
      this.present = true;
      event = 'enter';
    } else if (this.present && fg.occupancy < this.settings.leaveLevel) {
      this.present = false;
      event = 'leave';
    }
    if (!this.present && event === null && fg.occupancy < this.settings.leaveLevel) this.refresh(thumb);
    return { learning: false, ...fg, present: this.present, event };
  }

  /** Running average of the empty belt. */
  private refresh(thumb: Thumbnail): void {
    const a = this.settings.refreshRate;
    if (a === 0 || !this.reference) return;
    const ref = this.reference.data;
    for (let i = 0; i < ref.length; i++) ref[i] = ref[i]! + a * (thumb.data[i]! - ref[i]!);
  }
}
