/**
 * Debian's headless Chromium driven by playwright-core, for the web UI
 * tests, and the folder their screenshots and timings go to
 * (`.tap/artifacts/`, not kept in git).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { assertToolInstalled, SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(import.meta.dirname, '..', '..', '.tap', 'artifacts');

/** A fresh headless browser (its own temporary profile). */
export async function launchChromium(): Promise<Browser> {
  assertToolInstalled(CHROMIUM, SYSTEM_DEPS_HINT);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function writeArtifact(name: string, content: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await writeFile(path, content);
  return path;
}
