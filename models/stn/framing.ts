/**
 * Framing of the aligned part (pure functions). Once the spatial transformer
 * has put a frame into the product's canonical pose, the part sits centred,
 * but it may fill only a small share of the frame (a part laid on a belt at
 * half the frame's size leaves three quarters of it to the belt) and, on
 * lines where parts turn fully, lie at whatever angle the reference sample
 * lay. The framing is one more similarity composed after the transformer's
 * pose: it turns the part so its outline's box is smallest (a board or a
 * label comes out square to the frame) and zooms onto that box, with a
 * margin for what the alignment leaves off. The backbone then spends its
 * patches on the part instead of the belt: a part at half the frame is
 * scored at almost twice the resolution, for the same cost per frame.
 *
 * Where the part is comes from the golden samples in canonical pose: per
 * pixel, the mean difference from the belt (each sample's border median,
 * largest over the colour channels, so a dark red part on a grey belt counts
 * as part). Pixels well above the belt's level are the part.
 */
import { median } from '../components/median.ts';
import { compose, IDENTITY, similarity, type Similarity } from './pose.ts';

/** The framing of a frame whose part cannot be told from the belt: the whole frame. */
export const WHOLE_FRAME: Similarity = IDENTITY;

/**
 * Mean difference from the belt per pixel of RGB images (HWC, 0..255) in
 * canonical pose: each image's belt colour is the median of its border
 * pixels per channel, a pixel's difference the largest over the channels.
 */
export function partCoverage(images: Float32Array[], width: number, height: number): Float32Array {
  const coverage = new Float32Array(width * height);
  if (images.length === 0) return coverage;
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(x, (height - 1) * width + x);
  for (let y = 1; y < height - 1; y++) border.push(y * width, y * width + width - 1);
  for (const im of images) {
    const belt = [0, 1, 2].map((c) => median(border.map((p) => im[p * 3 + c]!)));
    for (let p = 0; p < width * height; p++) {
      const d = Math.max(Math.abs(im[p * 3]! - belt[0]!), Math.abs(im[p * 3 + 1]! - belt[1]!), Math.abs(im[p * 3 + 2]! - belt[2]!));
      coverage[p] = coverage[p]! + d / images.length;
    }
  }
  return coverage;
}

export interface FramingOptions {
  /** Added to the part's half-extent, in normalised units (2 = the frame's width). */
  margin: number;
  /** Largest zoom (the framed side at least 1 / maxZoom of the frame). */
  maxZoom: number;
}

export const DEFAULT_FRAMING: FramingOptions = { margin: 0.06, maxZoom: 2 };

/** Coverage below this over the belt's level: no part to frame (the belt and the part look alike). */
const MIN_PART_CONTRAST = 8;
/** A pixel is part when its coverage is this share of the way from the belt's level to the part's. */
const PART_LEVEL = 0.25;
/** A turned box must be this much smaller than the unturned one to be taken (ties keep the canonical orientation). */
const TURN_GAIN = 0.02;

/** Half the side of the smallest square box, with sides turned by `angle`, that holds the points; and its centre in turned coordinates. */
function boxAt(points: [number, number][], angle: number, pixel: number): { half: number; centre: [number, number] } {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  let lu = Infinity;
  let hu = -Infinity;
  let lv = Infinity;
  let hv = -Infinity;
  for (const [x, y] of points) {
    // Coordinates along the box's sides: the point turned by -angle.
    const u = c * x + s * y;
    const v = -s * x + c * y;
    lu = Math.min(lu, u);
    hu = Math.max(hu, u);
    lv = Math.min(lv, v);
    hv = Math.max(hv, v);
  }
  return { half: Math.max(hu - lu, hv - lv) / 2 + pixel, centre: [(lu + hu) / 2, (lv + hv) / 2] };
}

/**
 * The framing similarity for a coverage map (partCoverage): output point q
 * is read from canonical point `F q`, so the part's smallest box, turned
 * square to the frame, fills the output with `margin` to spare. The whole
 * frame (identity) when no part stands out from the belt or when the part
 * already fills the frame.
 */
export function partFraming(coverage: Float32Array, width: number, height: number, opts: FramingOptions = DEFAULT_FRAMING): Similarity {
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(coverage[x]!, coverage[(height - 1) * width + x]!);
  for (let y = 1; y < height - 1; y++) border.push(coverage[y * width]!, coverage[y * width + width - 1]!);
  const belt = median(border);
  // The part's level: its strongest pixel (a mean over the golden samples, so no single sample's speck).
  let part = -Infinity;
  for (const v of coverage) part = Math.max(part, v);
  if (part - belt < MIN_PART_CONTRAST) return WHOLE_FRAME;
  const level = belt + PART_LEVEL * (part - belt);
  const points: [number, number][] = [];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) if (coverage[y * width + x]! > level) points.push([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1]);
  // A pixel reaches half its width past its centre.
  const pixel = 1 / Math.min(width, height);
  let best = { angle: 0, ...boxAt(points, 0, pixel) };
  // A square box looks alike every quarter turn: angles within +-45 deg cover them all.
  for (let deg = -45; deg < 45; deg++) {
    if (deg === 0) continue;
    const box = boxAt(points, (deg * Math.PI) / 180, pixel);
    if (box.half < best.half * (1 - TURN_GAIN) && (best.angle === 0 || box.half < best.half)) best = { angle: (deg * Math.PI) / 180, ...box };
  }
  const side = Math.max(best.half + opts.margin, 1 / opts.maxZoom);
  if (side >= 1) return WHOLE_FRAME;
  // Output q -> box point centre + side * q (turned coordinates) -> canonical point R(angle) of it.
  return compose(similarity(best.angle, 1, 0, 0), similarity(0, side, best.centre[0], best.centre[1]));
}
