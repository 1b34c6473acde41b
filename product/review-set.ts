/**
 * What operators said about a product's kept records, as files the trainer
 * can learn from: parts marked good (false rejects), confirmed defects with
 * their type and mask, and passed parts marked as missed defects. Reads the
 * records index read-only, so the trainer never depends on the runtime.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { labelledRecords, openRecordsIndexReadOnly, RECORD_FILES, type RecordRow, recordsDir } from './records-index.ts';

export interface ReviewedImage {
  /** The scored image (PNG, at the product's input size). */
  path: string;
  /** The defect mask the model drew (PNG, white = defective). */
  maskPath: string;
  /** The defect type the operator chose, or "defect" when none was. */
  type: string;
  recordId: number;
  version: string | null;
}

export interface ReviewSet {
  good: string[];
  defects: ReviewedImage[];
  missed: ReviewedImage[];
}

function reviewedImage(dataDir: string, row: RecordRow): ReviewedImage {
  const dir = join(recordsDir(dataDir), row.dir);
  return { path: join(dir, RECORD_FILES.image), maskPath: join(dir, RECORD_FILES.mask), type: row.defectType ?? 'defect', recordId: row.id, version: row.version };
}

/** Sorts labelled rows into good images, confirmed defects and missed defects. */
export function reviewSetOf(dataDir: string, rows: RecordRow[]): ReviewSet {
  const set: ReviewSet = { good: [], defects: [], missed: [] };
  for (const row of rows) {
    if (row.label === 'good') set.good.push(reviewedImage(dataDir, row).path);
    else if (row.label === 'defect') set.defects.push(reviewedImage(dataDir, row));
    else if (row.label === 'missed') set.missed.push(reviewedImage(dataDir, row));
  }
  return set;
}

/** The reviewed records of a product (empty when the device kept none). */
export async function readReviewSet(dataDir: string, product: string, version?: string): Promise<ReviewSet> {
  const db = openRecordsIndexReadOnly(dataDir);
  if (!db) return { good: [], defects: [], missed: [] };
  try {
    return reviewSetOf(dataDir, labelledRecords(db, { product, version }));
  } finally {
    db.close();
  }
}

/** The reviewed records of a product as a trainer reads them: the review set, the record behind each image, and the labelled records that kept no image. */
export interface ReviewedRecords {
  set: ReviewSet;
  byImage: Map<string, RecordRow>;
  withoutImage: RecordRow[];
}

/**
 * The reviewed records of a product whose scored image is on disk (a part
 * that got no verdict for want of a frame kept none), with the record each
 * image belongs to, so a product update can say which records its replay
 * is about.
 */
export function readReviewedRecords(dataDir: string, product: string): ReviewedRecords {
  const db = openRecordsIndexReadOnly(dataDir);
  if (!db) return { set: { good: [], defects: [], missed: [] }, byImage: new Map(), withoutImage: [] };
  try {
    const rows = labelledRecords(db, { product });
    const imageOf = (row: RecordRow) => join(recordsDir(dataDir), row.dir, RECORD_FILES.image);
    const kept = rows.filter((row) => existsSync(imageOf(row)));
    return { set: reviewSetOf(dataDir, kept), byImage: new Map(kept.map((row) => [imageOf(row), row])), withoutImage: rows.filter((row) => !kept.includes(row)) };
  } finally {
    db.close();
  }
}
