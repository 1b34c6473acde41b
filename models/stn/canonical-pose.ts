/**
 * The canonical pose of a product (pure functions). Golden samples taken off
 * a running line vary in pose themselves, so "undo the random transform" is
 * only well defined once every golden sample has been put into one pose. The
 * trainer picks a reference sample — the medoid of the samples' grey-level
 * histograms, which do not depend on pose — and registers every sample to it
 * by search: centres of the part (the grey-level mass that differs from the
 * belt at the frame border) are matched, then rotations within the product's
 * range are tried and the best normalised cross-correlation wins, refined by
 * small shifts and angles. The canonical pose is the reference's, centred,
 * and — when parts turn less than a quarter turn either way — turned to the
 * golden samples' mean orientation, so the transformer's rotation range is
 * centred on the line's parts rather than on one sample at its edge.
 *
 * The best correlation is also the alignment residual that exposes golden
 * samples of another product mixed into the folder (`mixedSamples`). Before
 * that, samples that fit the reference only when turned further than the
 * search within the product's rotation range looks (`beyondRotationRange`)
 * are told apart from another product's: a photographed part turned a full
 * turn on a line enrolled at +-30 deg aligns as badly within the range as a
 * different part would, and is the same product.
 */
import { angleOf, compose, similarity, warpImage, IDENTITY, type PoseRanges, type Similarity } from './pose.ts';
import { median } from '../components/median.ts';

export interface GreyImage {
  data: Float32Array;
  width: number;
  height: number;
}

export interface Registration {
  /** Sampling matrix putting the sample into the reference's pose. */
  pose: Similarity;
  /** Normalised cross-correlation with the reference after registration. */
  correlation: number;
}

export function normalisedCorrelation(a: Float32Array, b: Float32Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Centre of the grey-level mass that differs from the belt (median of the border), in normalised coordinates. */
export function partCentre(image: GreyImage): [number, number] {
  const { data, width, height } = image;
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(data[x]!, data[(height - 1) * width + x]!);
  for (let y = 0; y < height; y++) border.push(data[y * width]!, data[y * width + width - 1]!);
  const belt = median(border);
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const w = Math.abs(data[y * width + x]! - belt);
      sw += w;
      sx += w * ((2 * x + 1) / width - 1);
      sy += w * ((2 * y + 1) / height - 1);
    }
  return sw > 0 ? [sx / sw, sy / sw] : [0, 0];
}

/** Index of the sample whose 16-bin grey histogram is closest (L1, summed) to all others. */
export function chooseReference(images: GreyImage[]): number {
  const histograms = images.map((im) => {
    const h = new Float64Array(16);
    for (const v of im.data) h[Math.min(15, Math.max(0, Math.floor(v / 16)))]! += 1 / im.data.length;
    return h;
  });
  let best = 0;
  let bestSum = Infinity;
  histograms.forEach((h, i) => {
    let sum = 0;
    for (const other of histograms) for (let k = 0; k < 16; k++) sum += Math.abs(h[k]! - other[k]!);
    if (sum < bestSum) {
      bestSum = sum;
      best = i;
    }
  });
  return best;
}

/** Coarse rotations refined before one is chosen. */
const REFINED_CANDIDATES = 4;

/** Rotation candidates (radians) for a relative pose of two samples each within `rotationDeg`. */
function candidateAngles(rotationDeg: number): { angles: number[]; step: number } {
  const span = Math.min(180, 2 * rotationDeg);
  const rad = (deg: number) => (deg * Math.PI) / 180;
  if (span <= 0) return { angles: [0], step: 0 };
  // A full turn: every 5 deg. Otherwise about 15 steps each way, 1 to 4 deg apart (a board's
  // correlation peak is a few degrees wide: coarser steps step over it).
  if (span >= 180) return { angles: Array.from({ length: 72 }, (_, k) => rad(5 * k)), step: rad(5) };
  const stepDeg = Math.max(1, Math.min(4, span / 15));
  const n = Math.floor(span / stepDeg);
  return { angles: Array.from({ length: 2 * n + 1 }, (_, k) => rad((k - n) * stepDeg)), step: rad(stepDeg) };
}

/**
 * Registers `image` to `reference` within the pose ranges. The pose maps the
 * reference frame into the sample: sample point = c + R (q - c_ref), i.e.
 * warp(image, pose) looks like the reference.
 */
export function registerToReference(image: GreyImage, reference: GreyImage, ranges: PoseRanges): Registration {
  const { width, height } = reference;
  const score = (pose: Similarity) => normalisedCorrelation(warpImage(image.data, width, height, 1, pose), reference.data);
  const withShift = ranges.translation > 0;
  const [cx, cy] = withShift ? partCentre(image) : [0, 0];
  const [rx, ry] = withShift ? partCentre(reference) : [0, 0];
  // Rotation r about the reference centre, then onto the sample centre.
  const poseAt = (angle: number, dx = 0, dy = 0): Similarity => compose(similarity(0, 1, cx + dx, cy + dy), compose(similarity(angle, 1, 0, 0), similarity(0, 1, -rx, -ry)));
  const { angles, step } = candidateAngles(ranges.rotation);
  let best: Registration = { pose: IDENTITY, correlation: score(IDENTITY) };
  const coarse = angles.map((angle) => ({ angle, correlation: score(poseAt(angle)) })).sort((a, b) => b.correlation - a.correlation);
  // Parts are often nearly symmetric in outline (a square board looks alike every 90 deg),
  // so the best few coarse angles, not just the best, are refined before one is chosen.
  const seeds: number[] = [];
  for (const c of coarse) {
    if (seeds.length >= REFINED_CANDIDATES) break;
    if (seeds.every((a) => Math.abs(Math.atan2(Math.sin(a - c.angle), Math.cos(a - c.angle))) > 1.5 * step)) seeds.push(c.angle);
  }
  const pixel = 2 / width;
  for (const seed of seeds) {
    // Refine: half a step and two pixels, then a quarter step and one pixel.
    let angleAt = seed;
    let shiftAt: [number, number] = [0, 0];
    let local = -Infinity;
    for (const { delta, px } of [{ delta: step / 2, px: 2 }, { delta: step / 4, px: 1 }]) {
      const centre = { angle: angleAt, shift: shiftAt };
      for (const angle of delta > 0 ? [centre.angle - delta, centre.angle, centre.angle + delta] : [centre.angle]) {
        for (const dx of withShift ? [-px, 0, px] : [0]) {
          for (const dy of withShift ? [-px, 0, px] : [0]) {
            const shift: [number, number] = [centre.shift[0] + dx * pixel, centre.shift[1] + dy * pixel];
            const pose = poseAt(angle, shift[0], shift[1]);
            const c = score(pose);
            if (c > local) {
              local = c;
              angleAt = angle;
              shiftAt = shift;
            }
            if (c > best.correlation) best = { pose, correlation: c };
          }
        }
      }
    }
  }
  return best;
}

export interface CanonicalPoses {
  reference: number;
  registrations: Registration[];
}

/**
 * Below this median correlation with the reference the samples share no shape
 * to register (a stationary texture, or a part lost in clutter): there is no
 * pose to learn.
 */
export const MIN_REGISTRATION_CORRELATION = 0.5;

export function medianCorrelation(poses: CanonicalPoses): number {
  return median(poses.registrations.filter((_, i) => i !== poses.reference).map((r) => r.correlation));
}

/** Mean direction of angles (radians), e.g. of -170 and 170 deg: 180 deg. */
export function meanAngle(angles: number[]): number {
  let s = 0;
  let c = 0;
  for (const a of angles) {
    s += Math.sin(a);
    c += Math.cos(a);
  }
  return Math.atan2(s, c);
}

/** Beyond this rotation range (deg either way) orientations have no meaningful mean: the reference's is kept. */
const CENTRED_ORIENTATION_MAX_DEG = 90;

/**
 * Registers every sample to the reference. The canonical pose is the
 * reference's orientation with the part centred in the frame (when shifts are
 * in the range): the transformer's shift then says where the part is,
 * independent of how it is turned. When parts turn less than a quarter turn,
 * the orientation is the golden samples' mean: a reference lying 20 deg off
 * on a +-30 deg line would otherwise leave parts 50 deg from canonical,
 * outside the range the transformer is trained on.
 */
export function canonicalPoses(images: GreyImage[], ranges: PoseRanges): CanonicalPoses {
  if (images.length === 0) throw new Error('no golden samples to align');
  const reference = chooseReference(images);
  const [rx, ry] = ranges.translation > 0 ? partCentre(images[reference]!) : [0, 0];
  const centre = similarity(0, 1, rx, ry);
  const registered = images.map((im, i) => {
    const r = i === reference ? { pose: IDENTITY, correlation: 1 } : registerToReference(im, images[reference]!, ranges);
    return { pose: compose(r.pose, centre), correlation: r.correlation };
  });
  if (ranges.rotation <= 0 || ranges.rotation >= CENTRED_ORIENTATION_MAX_DEG) return { reference, registrations: registered };
  const turn = similarity(-meanAngle(registered.map((r) => angleOf(r.pose))), 1, 0, 0);
  return { reference, registrations: registered.map((r) => ({ pose: compose(r.pose, turn), correlation: r.correlation })) };
}

/**
 * Samples that align clearly worse than the rest: residuals (1 - correlation)
 * sorted, split at the widest gap; the upper group is reported when the gap is
 * wider than `minGap` and than four times the spread (median absolute
 * deviation) of the lower group, and holds fewer than half of the samples.
 * One product's residuals form one group.
 */
export function mixedSamples(residuals: number[], minGap = 0.12): number[] {
  if (residuals.length < 3) return [];
  const order = residuals.map((r, i) => ({ r, i })).sort((a, b) => a.r - b.r);
  let gap = 0;
  let at = -1;
  for (let k = 1; k < order.length; k++) {
    const d = order[k]!.r - order[k - 1]!.r;
    if (d > gap) {
      gap = d;
      at = k;
    }
  }
  // The odd ones out are a minority: a folder that is mostly "odd" holds no common shape at all.
  if (at < 0 || gap <= minGap || order.length - at >= order.length / 2) return [];
  const lower = order.slice(0, at).map((o) => o.r);
  const m = median(lower);
  const spread = median(lower.map((r) => Math.abs(r - m)));
  if (gap <= 4 * spread) return [];
  return order.slice(at).map((o) => o.i).sort((a, b) => a - b);
}

/** Angle wrapped into (-pi, pi]. */
function wrapAngle(a: number): number {
  return Math.atan2(Math.sin(a), Math.cos(a));
}

/**
 * Largest turn (radians) of any of `angles` from their mean direction: the
 * rotation range a transformer centred on the mean orientation must cover.
 */
export function turnFromMean(angles: number[]): number {
  if (angles.length === 0) return 0;
  const mean = meanAngle(angles);
  return Math.max(...angles.map((a) => Math.abs(wrapAngle(a - mean))));
}

/**
 * The rotation range (degrees either way) to enroll parts whose orientations
 * turn up to `turnDeg` from their mean: five degrees of margin, rounded up to
 * five; from a quarter turn on, 180 (parts turn fully; the canonical
 * orientation is then the reference's, not a mean).
 */
export function suggestedRotation(turnDeg: number): number {
  const withMargin = Math.ceil((turnDeg + 5) / 5) * 5;
  return withMargin >= CENTRED_ORIENTATION_MAX_DEG ? 180 : withMargin;
}

/** A golden sample that fits the reference only turned beyond the rotation range. */
export interface TurnedSample {
  index: number;
  /** Its turn relative to the reference (radians). */
  turn: number;
  /** Residual (1 - correlation) of the search within the range, and of the search over a full turn. */
  residualInRange: number;
  residual: number;
}

export interface RotationCheck {
  samples: TurnedSample[];
  /** Largest turn of any sample from the samples' mean orientation (radians), full-turn registrations included, another product's samples left out. */
  turnFromMean: number;
}

/**
 * Golden samples that align with the reference only when turned further
 * than the registration searched within the product's rotation range (two
 * samples within +-R of the canonical pose are within 2R of each other; from
 * R = 90 deg on the search is a full turn and nothing lies beyond it).
 *
 * Samples clearly worse than the best-aligned one (by more than `minGap`, or
 * all of them when even that one shares no shape) are registered
 * again over a full turn; those whose residual then drops by more than
 * `minGap`, and that then align like the rest (`mixedSamples` of the best
 * residuals does not single them out), are the same product lying turned
 * beyond the range. A stationary texture, whose samples share no shape at any
 * turn (median correlation below MIN_REGISTRATION_CORRELATION), has none; a
 * sample of another product, which may fit a little better turned but still
 * not like the rest, stays for `mixedSamples` to report.
 */
export function beyondRotationRange(images: GreyImage[], poses: CanonicalPoses, ranges: PoseRanges, minGap = 0.12): RotationCheck {
  const { reference, registrations } = poses;
  const angleToReference = (pose: Similarity) => wrapAngle(angleOf(pose) - angleOf(registrations[reference]!.pose));
  const inRange = registrations.map((r) => 1 - r.correlation);
  const others = inRange.filter((_, i) => i !== reference);
  const none = { samples: [], turnFromMean: turnFromMean(registrations.map((r) => angleToReference(r.pose))) };
  if (2 * ranges.rotation >= 180 || others.length === 0) return none;
  const best = Math.min(...others);
  const searchAll = 1 - best < MIN_REGISTRATION_CORRELATION;
  const full: (Registration | undefined)[] = inRange.map((r, i) =>
    i !== reference && (searchAll || r > best + minGap) ? registerToReference(images[i]!, images[reference]!, { ...ranges, rotation: 180 }) : undefined,
  );
  const residual = (i: number) => Math.min(inRange[i]!, 1 - (full[i]?.correlation ?? -Infinity));
  const shared = 1 - median(inRange.map((_, i) => residual(i)).filter((_, i) => i !== reference));
  if (shared < MIN_REGISTRATION_CORRELATION) return none;
  // Turned further, another product's samples may fit a little better, but still not like the rest.
  const odd = new Set(mixedSamples(inRange.map((_, i) => residual(i)), minGap));
  const samples: TurnedSample[] = [];
  const turns = registrations.map((r, i) => {
    const f = full[i];
    if (!f || odd.has(i) || 1 - f.correlation >= inRange[i]! - minGap) return angleToReference(r.pose);
    // The full-turn pose maps the reference into the sample; the canonical registrations add a common turn.
    samples.push({ index: i, turn: wrapAngle(angleOf(f.pose)), residualInRange: inRange[i]!, residual: 1 - f.correlation });
    return wrapAngle(angleOf(f.pose));
  });
  return { samples, turnFromMean: turnFromMean(turns.filter((_, i) => !odd.has(i))) };
}
