import t from 'tap';
import { ffmpegArgs, inputKind, redactUrl } from '../../runtime/ingest/ffmpeg-command.ts';
import { describeFailure } from '../../runtime/ingest/ffmpeg-camera.ts';
import { parseFfmpegVersion } from '../../runtime/ingest/find-ffmpeg.ts';
import { FrameAssembler } from '../../runtime/ingest/frame-assembler.ts';

const camera = { url: 'rtsp://10.0.0.5:554/line', width: 224, height: 160, fps: 15, rtspStart: 'low-delay' as const };

t.test('rtsp cameras are read over TCP with a socket timeout', async (t) => {
  const args = ffmpegArgs(camera, { major: 5, minor: 1 });
  const i = args.indexOf('-i');
  const input = args.slice(0, i);
  t.same(input.slice(input.indexOf('-rtsp_transport'), input.indexOf('-rtsp_transport') + 2), ['-rtsp_transport', 'tcp']);
  t.ok(input.includes('-timeout'), 'ffmpeg 5 calls the socket timeout -timeout');
  t.ok(ffmpegArgs(camera, { major: 4, minor: 4 }).includes('-stimeout'), 'ffmpeg 4 calls it -stimeout');
  t.equal(args[i + 1], camera.url);
  t.equal(args.at(-1), 'pipe:1');
  t.same(args.slice(args.indexOf('-pix_fmt'), args.indexOf('-pix_fmt') + 4), ['-pix_fmt', 'rgb24', '-f', 'rawvideo']);
  t.equal(args[args.indexOf('-vf') + 1], 'scale=224:160');
  const rate = args.slice(args.indexOf('-fps_mode'), args.indexOf('-fps_mode') + 4);
  t.same(rate, ['-fps_mode', 'cfr', '-r', '15'], 'constant frame rate at the output, decided frame by frame (no fps= filter holding a frame)');
  const old = ffmpegArgs(camera, { major: 5, minor: 0 });
  t.same(old.slice(old.indexOf('-vsync'), old.indexOf('-vsync') + 4), ['-vsync', 'cfr', '-r', '15'], 'before 5.1 the option is -vsync');
  t.notOk(args.includes('-re'), 'a live camera is not paced');
  t.same(input.slice(input.indexOf('-thread_type'), input.indexOf('-thread_type') + 2), ['-thread_type', 'slice'], 'the decoder threads by slices: frame threads hold frames back');
});

t.test("an rtsp stream starts by the camera's rtspStart preset", async (t) => {
  const inputOf = (args: string[]) => args.slice(0, args.indexOf('-i'));
  const low = ffmpegArgs(camera);
  t.ok(inputOf(low).includes('-nofind_stream_info'), 'low-delay does not probe the stream');
  t.same(low.slice(low.indexOf('-map'), low.indexOf('-map') + 2), ['-map', '0:v:0'], 'the first video stream is taken by name: an unprobed stream has no size to choose by');
  t.ok(low.indexOf('-map') > low.indexOf('-i'), '-map is an output option');
  const probed = ffmpegArgs({ ...camera, rtspStart: 'probed' });
  t.same(inputOf(probed), inputOf(low).filter((a) => a !== '-nofind_stream_info'), "probed is ffmpeg's default and nothing else differs");
  t.notOk(ffmpegArgs({ ...camera, url: 'http://cam/mjpeg' }).includes('-nofind_stream_info'), 'other inputs are probed');
});

t.test('a region of interest is cropped before scaling', async (t) => {
  const args = ffmpegArgs({ ...camera, roi: { x: 100, y: 50, width: 640, height: 480 } });
  t.equal(args[args.indexOf('-vf') + 1], 'crop=640:480:100:50,scale=224:160');
});

t.test('files play at real-time rate, looping; http reconnects', async (t) => {
  const file = ffmpegArgs({ ...camera, url: 'file:///videos/line.mp4' });
  t.ok(file.includes('-re'));
  t.same(file.slice(file.indexOf('-stream_loop'), file.indexOf('-stream_loop') + 2), ['-stream_loop', '-1']);
  t.equal(file[file.indexOf('-i') + 1], '/videos/line.mp4');
  t.equal(inputKind('/videos/line.mp4'), 'file');
  const http = ffmpegArgs({ ...camera, url: 'http://cam/mjpeg' });
  t.ok(http.includes('-reconnect'));
  t.notOk(http.includes('-re'));
});

t.test('passwords never reach logs', async (t) => {
  t.equal(redactUrl('rtsp://admin:s3cret@10.0.0.5:554/line'), 'rtsp://admin:***@10.0.0.5:554/line');
  t.equal(redactUrl('rtsp://10.0.0.5/line'), 'rtsp://10.0.0.5/line');
  t.notMatch(describeFailure(['Connection refused'], 'rtsp://admin:s3cret@10.0.0.5/line'), /s3cret/);
});

t.test("ffmpeg's last words become a sentence for technicians", async (t) => {
  const url = 'rtsp://10.0.0.5/line';
  t.match(describeFailure(['[tcp @ 0x1] Connection to tcp://10.0.0.5:554 failed: Connection refused'], url), /cannot connect .*connection refused/);
  t.match(describeFailure(['method DESCRIBE failed: 401 Unauthorized'], url), /credentials/);
  t.match(describeFailure(['method DESCRIBE failed: 404 Not Found'], url), /no such stream/);
  t.match(describeFailure(['Connection timed out'], url), /timed out/);
  t.equal(describeFailure(["Stream map '0:v:0' matches no streams.", "To ignore this, add a trailing '?' to the map."], url), `${url} has no video stream`);
  t.match(describeFailure([], url), /ended/);
});

t.test('ffmpeg versions', async (t) => {
  t.equal(parseFfmpegVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026').major, 5);
  t.same(parseFfmpegVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026'), { major: 5, minor: 1 });
  t.same(parseFfmpegVersion('ffmpeg version n6.0 Copyright'), { major: 6, minor: 0 });
  t.equal(parseFfmpegVersion('ffmpeg version 7.0.2 Copyright').major, 7);
  t.equal(parseFfmpegVersion('ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/').major, 4);
});

t.test('the byte stream is cut into whole frames whatever the chunking', async (t) => {
  const frameBytes = 6;
  const stream = Buffer.from(Array.from({ length: 6 * 5 }, (_, i) => i));
  for (const chunking of [[30], [1, 29], [4, 4, 4, 4, 4, 4, 6], [6, 6, 6, 6, 6], [7, 11, 12], Array(30).fill(1)]) {
    const a = new FrameAssembler(frameBytes);
    const frames: Buffer[] = [];
    let offset = 0;
    for (const n of chunking) {
      frames.push(...a.push(stream.subarray(offset, offset + n)));
      offset += n;
    }
    t.equal(frames.length, 5, `chunks ${chunking.join(',')}`);
    t.same(Buffer.concat(frames), stream);
    t.equal(a.partialBytes, 0);
  }
  const a = new FrameAssembler(frameBytes);
  const [first] = a.push(stream.subarray(0, 6));
  a.push(stream.subarray(6, 9));
  t.same([...first!], [0, 1, 2, 3, 4, 5], 'a delivered frame is never overwritten by later bytes');
  t.equal(a.partialBytes, 3);
  a.reset();
  t.equal(a.partialBytes, 0, 'a restart drops the partial frame');
  t.throws(() => new FrameAssembler(0));
});
