/**
 * The ffmpeg command line that turns one camera's stream into raw RGB frames
 * on stdout (pure: settings in, arguments out).
 *
 * - rtsp: TCP transport (no lost UDP packets, passes firewalls) and a socket
 *   timeout, so a hung or vanished camera ends the reader instead of leaving
 *   it waiting (the supervisor restarts it), then the camera's `rtspStart`
 *   preset (RTSP_START_PRESETS, below).
 * - http(s): reconnects inside ffmpeg for short network blips.
 * - files: played at real-time rate and looped, like a camera.
 * - the decoder threads by slices, not by frames (`-thread_type slice`):
 *   frame threading, ffmpeg's default, hands each frame to the next thread
 *   and gives it back only once that many more frames have come in, a frame
 *   interval of latency per thread. Frames matched by content on one RTSP
 *   stream at 30 fps: 33 ms earlier than with the default on this 2-core
 *   machine (100 ms with `-threads 1` in another run). The frame clock
 *   takes a fixed delay out of the frames' times, but on a line it is time
 *   before a part's frame exists, which a trigger's delay must cover.
 *   A stream without slices decodes on one thread, cheap at a camera's size.
 * - constant frame rate at the output (`-fps_mode cfr -r <fps>`, `-vsync`
 *   before ffmpeg 5.1): frame n is stream time n / fps, a lost frame is
 *   filled with a copy of the one before, which the frame clock
 *   (ingest/frame-clock.ts) relies on. The `fps=` filter does the same but
 *   holds every frame until the next one is in, one frame interval of
 *   latency (67 ms at 15 fps); the output's frame-rate conversion decides on
 *   each frame as it comes. Measured with bench:opcua at 30 fps: trigger to
 *   result p50 54 -> 48 ms, p99 159 -> 133 ms.
 */
import { streamUrlScheme, type CameraSettings } from '../../config/camera-settings.ts';

export type InputKind = 'rtsp' | 'http' | 'file' | 'other';

export function inputKind(url: string): InputKind {
  const scheme = streamUrlScheme(url);
  if (!scheme || scheme === 'file') return 'file';
  if (scheme === 'rtsp' || scheme === 'rtsps') return 'rtsp';
  if (scheme === 'http' || scheme === 'https') return 'http';
  return 'other';
}

/**
 * How an RTSP connection starts, as data (the camera's `rtspStart`):
 * - `low-delay`: `-nofind_stream_info`. ffmpeg does not probe the stream:
 *   the decoder learns the picture size from the stream itself (the SDP's
 *   parameter sets, or the first keyframe), and the output takes the first
 *   video stream by name (`-map 0:v:0`, as an unprobed stream has no size
 *   to choose by). `npm run bench:rtsp-start`: first frame 285 ms after the
 *   reader starts instead of 955, frame 0 of a numbered stream the first
 *   delivered either way, no frame skipped after it (the probe's burst:
 *   2 per connection).
 * - `probed`: ffmpeg's default. It reads and decodes the first packets to
 *   find the stream's parameters (about 0.8 s), then decodes them again and
 *   delivers their frames in a burst. In earlier bench:opcua runs on a busy
 *   machine, frames began to arrive one frame later 1-2 minutes into most
 *   runs and stayed so; with the probed packets thrown away (`-fflags
 *   nobuffer`, which also lost the connection's first keyframe interval)
 *   or without the probe it has not been seen (docs/OPCUA.md).
 */
export const RTSP_START_PRESETS: Record<CameraSettings['rtspStart'], readonly string[]> = {
  'low-delay': ['-nofind_stream_info'],
  probed: [],
};

/** Socket timeout for network inputs, in microseconds (ffmpeg's unit). */
const IO_TIMEOUT_US = 5_000_000;

/** `ffmpeg` is the binary's version (ingest/find-ffmpeg.ts); options were renamed in 5.0 and 5.1. */
export function ffmpegArgs(camera: Pick<CameraSettings, 'url' | 'width' | 'height' | 'fps' | 'roi' | 'rtspStart'>, ffmpeg: { major: number; minor: number } = { major: 5, minor: 1 }): string[] {
  const kind = inputKind(camera.url);
  const input: string[] = [];
  if (kind === 'rtsp') {
    // ffmpeg 5 renamed the RTSP socket timeout from -stimeout to -timeout.
    input.push('-rtsp_transport', 'tcp', ffmpeg.major >= 5 ? '-timeout' : '-stimeout', String(IO_TIMEOUT_US), ...RTSP_START_PRESETS[camera.rtspStart]);
  } else if (kind === 'http') {
    input.push('-reconnect', '1', '-reconnect_streamed', '1', '-reconnect_delay_max', '5', '-rw_timeout', String(IO_TIMEOUT_US));
  } else if (kind === 'file') {
    input.push('-re', '-stream_loop', '-1');
  }
  const filters: string[] = [];
  if (camera.roi) filters.push(`crop=${camera.roi.width}:${camera.roi.height}:${camera.roi.x}:${camera.roi.y}`);
  filters.push(`scale=${camera.width}:${camera.height}`);
  const constantRate = ffmpeg.major > 5 || (ffmpeg.major === 5 && ffmpeg.minor >= 1) ? ['-fps_mode', 'cfr'] : ['-vsync', 'cfr'];
  const url = kind === 'file' ? camera.url.replace(/^file:\/\//i, '') : camera.url;
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    '-thread_type', 'slice',
    ...input,
    '-i', url,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', filters.join(','),
    ...constantRate, '-r', String(camera.fps),
    '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1',
  ];
}

/** The URL with any password replaced, for logs and health messages (see config/secrets.ts). */
export { redactUrl } from '../../config/secrets.ts';
