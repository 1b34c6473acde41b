/**
 * One camera's stream settings: where to read it and the frames wanted from
 * it. Any ffmpeg input works: rtsp:// (a line camera), http(s):// (an MJPEG
 * or HLS stream), or a video file (played at real-time rate, looping).
 */
import { z } from 'zod';
import { nameRule, validateTopicId } from './names.ts';

const cameraId = z.string().superRefine(nameRule((v) => validateTopicId('camera id', v)));

/** The lower-case scheme of a stream URL (`rtsp` of `rtsp://...`), or undefined for a plain file path. */
export function streamUrlScheme(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
}

/** URL schemes ffmpeg reads a camera stream from. */
export const STREAM_SCHEMES = ['rtsp', 'rtsps', 'http', 'https', 'file', 'udp', 'rtmp', 'srt'] as const;

const streamUrl = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const scheme = streamUrlScheme(value);
    if (scheme && !(STREAM_SCHEMES as readonly string[]).includes(scheme)) {
      ctx.addIssue({ code: 'custom', message: `"${scheme}://" is not a stream linesight reads; use rtsp://, http(s)://, or a video file path` });
    }
  });

export const roiSchema = z
  .object({
    x: z.number().int().min(0),
    y: z.number().int().min(0),
    width: z.number().int().min(8),
    height: z.number().int().min(8),
  })
  .strict();

export const cameraSettingsSchema = z
  .object({
    /** Names the camera in topics, logs and metrics (e.g. `cam1`, `infeed-top`). */
    id: cameraId,
    /** rtsp://user:pass@host:554/stream, http(s)://..., or a video file. */
    url: streamUrl,
    /** Frame size delivered to the pipeline, after the optional crop. */
    width: z.number().int().min(16).max(4096).default(224),
    height: z.number().int().min(16).max(4096).default(224),
    /** Frames per second taken from the stream. */
    fps: z.number().positive().max(120).default(15),
    /** Region of interest in source pixels, cropped before scaling. */
    roi: roiSchema.optional(),
    /** No frame for this long means the stream is stalled: the reader is restarted. */
    watchdogMs: z.number().int().min(500).max(600_000).default(5000),
    /** Restart delay after a failure: starts at initialMs, doubles per failure up to maxMs. */
    backoff: z
      .object({
        initialMs: z.number().int().min(10).default(500),
        maxMs: z.number().int().min(10).default(30_000),
      })
      .strict()
      .default({ initialMs: 500, maxMs: 30_000 }),
    /**
     * How an rtsp:// stream is opened (runtime/ingest/ffmpeg-command.ts, RTSP_START_PRESETS):
     * `low-delay` decodes from the first packet without probing the stream first; `probed` lets
     * ffmpeg probe it (about 0.8 s) and deliver the probed frames late, in a burst.
     */
    rtspStart: z.enum(['low-delay', 'probed']).default('low-delay'),
    /** ffmpeg binary for this camera (default: system ffmpeg, else the bundled one). */
    ffmpegPath: z.string().min(1).optional(),
  })
  .strict();

export type CameraSettings = z.output<typeof cameraSettingsSchema>;
