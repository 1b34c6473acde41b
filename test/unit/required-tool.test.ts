/** A missing system program fails the test that needs it, naming the install command; a present one passes unnoticed. */
import t from 'tap';
import { missingGstreamer } from '../../fixtures/rtsp-camera.ts';
import { assertToolInstalled, SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';
import { requireTool } from '../helpers/require-tool.ts';

t.test('requireTool fails with the install command when the program is missing', async (t) => {
  const failures: string[] = [];
  const recorder = { fail: (message: string) => failures.push(message) };
  t.equal(requireTool(recorder, '/nonexistent/mosquitto', SYSTEM_DEPS_HINT), false);
  t.equal(failures.length, 1);
  t.match(failures[0], /\/nonexistent\/mosquitto is not installed: run `sudo bash scripts\/install-system-deps\.sh`/);
  t.equal(requireTool(recorder, process.execPath, SYSTEM_DEPS_HINT), true, 'a present program');
  t.equal(failures.length, 1, 'no failure for a present program');
});

t.test('assertToolInstalled throws the same message', async (t) => {
  t.throws(() => assertToolInstalled('/nonexistent/chromium', SYSTEM_DEPS_HINT), /\/nonexistent\/chromium is not installed: run `sudo bash/);
  t.doesNotThrow(() => assertToolInstalled(process.execPath, SYSTEM_DEPS_HINT));
});

t.test("the RTSP camera names the install command when GStreamer's bindings are missing", async (t) => {
  t.match(missingGstreamer("ValueError: Namespace GstRtspServer not available"), /gir1\.2-gst-rtsp-server-1\.0\) is not installed: run `sudo bash scripts\/install-system-deps\.sh`/);
  t.match(missingGstreamer("ModuleNotFoundError: No module named 'gi'"), /install-system-deps/);
  t.equal(missingGstreamer('Address already in use'), '', 'other failures get no install hint');
});
