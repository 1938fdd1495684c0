#!/usr/bin/env node
// Builds a Holdfast component from a JavaScript module written against Cloudflare's Durable
// Object API:
//
//   node guest-sdk/js/build.mjs <module.js|.ts> -o <out.wasm> [--class <ExportedClass>] [--manifest <out.json>]
//
// One component holds every Durable Object class the module exports (the host picks each by the
// `class` of its config entry) and, if the module's default export has a `fetch`, the worker.
// `--class` names the class to run when the config's `class` is not exported under that name.
//
// The module (and what it imports) is bundled with esbuild, with `cloudflare:workers` and
// `holdfast` mapped to this SDK and .html/.txt/.css/.svg imports bundled as text, then turned into a component of the holdfast:object world by
// componentize-js. Nothing is downloaded: both tools come from this package's node_modules
// (`npm ci` here, which scripts/setup.sh runs).
//
// Builds are kept in a build cache keyed by their inputs (see `buildCache`), so the same module
// and SDK give the same component bytes on this machine however often they are built.
//
// `--manifest` writes what the module exports (`{"exports": [...], "worker": bool}`), so that the
// host can name a configured class the module lacks. A build whose bundle, SDK and options are
// those of the last build of `out` (recorded in `<out>.inputs`) reuses it instead of running
// componentize-js again.

import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const usage =
  'usage: build.mjs <module.js|.ts> -o <out.wasm> [--class <ExportedClass>] [--manifest <out.json>]';

/** How many builds the build cache keeps (each 12-15 MB); the least recently used go first. */
const BUILD_CACHE_ENTRIES = 32;

/**
 * The build cache: `js-builds/` under Holdfast's cache directory (`$XDG_CACHE_HOME/holdfast`,
 * else `~/.cache/holdfast`, as the host's compiled-code cache). componentize-js does not give
 * the same bytes twice for the same inputs (its engine snapshot holds random seeds), so each
 * build is kept under the hash of its inputs: building the same inputs again gives the same
 * bytes, and the host finds their compiled code in its cache instead of compiling 10-15 s again.
 */
function buildCache() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'holdfast', 'js-builds');
}

/** Keeps `component` as the build of its inputs, then trims the cache to its bound. */
async function remember(file, component) {
  try {
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, component);
    await rename(tmp, file);
    const entries = [];
    for (const name of await readdir(dirname(file))) {
      if (!name.endsWith('.wasm')) continue;
      const path = join(dirname(file), name);
      entries.push({ path, used: (await stat(path)).mtimeMs });
    }
    entries.sort((a, b) => b.used - a.used);
    for (const { path } of entries.slice(BUILD_CACHE_ENTRIES)) await rm(path, { force: true });
  } catch (e) {
    console.error(`warning: cannot keep the build in the build cache: ${e.message}`);
  }
}

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

/** The part of a componentize-js failure that speaks to the module's author. */
function explain(text) {
  // The module's top level runs while the engine snapshot is made, with no host to call.
  const imported = text.match(/unknown imported function: '([^']+)' '([^']+)'/);
  if (imported) {
    return (
      `the module's top level called ${imported[2]}() from ${imported[1]} while the component ` +
      'was being built: storage and the other host calls work only inside the class (its ' +
      'constructor and handlers)'
    );
  }
  // An exception thrown by the module's top level (or by the SDK picking the class).
  const thrown = text.match(/Exception while evaluating top-level script\n(.*)/);
  if (thrown) return `the module's top level threw: ${thrown[1].replace(/^\S+:\d+:\d+ /, '')}`;
  return `componentize-js failed: ${text}`;
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      class: { type: 'string' },
      manifest: { type: 'string' },
    },
  });
} catch (e) {
  fail(`${e.message}\n${usage}`);
}
if (args.positionals.length !== 1 || !args.values.out) fail(usage);
const source = resolve(args.positionals[0]);
if (!existsSync(source)) fail(`no such file: ${args.positionals[0]}`);
const out = resolve(args.values.out);
const className = args.values.class ?? null;

const { build } = await import('esbuild');
const { componentize } = await import('@bytecodealliance/componentize-js');

// Next to the output, not in a random temporary directory: the bundle names its files by path,
// and the same inputs must give the same bundle (so that an unchanged module is not rebuilt).
const work = `${out}.work`;
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
try {
  const entry = join(work, 'entry.js');
  await writeFile(
    entry,
    `import ${JSON.stringify(join(here, 'src/globals.js'))};\n` +
      `import * as user from ${JSON.stringify(source)};\n` +
      `import { makeHandler } from ${JSON.stringify(join(here, 'src/handler.js'))};\n` +
      `import { makeWorker } from ${JSON.stringify(join(here, 'src/worker.js'))};\n` +
      `export const handler = makeHandler(user, ${JSON.stringify(className)});\n` +
      `export const workerHandler = makeWorker(user);\n` +
      `export { hosting } from ${JSON.stringify(join(here, 'src/hosting.js'))};\n`,
  );
  const bundle = join(work, 'bundle.js');
  const sdk = join(here, 'src/index.js');
  const options = {
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['holdfast:object/*'],
    alias: { 'cloudflare:workers': sdk, holdfast: sdk },
    // `import page from './page.html'` gives the file's text, bundled into the component.
    loader: { '.html': 'text', '.txt': 'text', '.css': 'text', '.svg': 'text' },
    // npm packages written for workers (Hono among them) pick their worker build by these.
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  };
  try {
    if (args.values.manifest) {
      // The user's module alone: what it exports.
      const probe = await build({ ...options, entryPoints: [source], write: false, metafile: true });
      const exports = Object.values(probe.metafile.outputs).flatMap((o) => o.exports ?? []);
      const manifest = {
        exports: exports.filter((e) => e !== 'default').sort(),
        worker: exports.includes('default'),
      };
      await mkdir(dirname(resolve(args.values.manifest)), { recursive: true });
      await writeFile(resolve(args.values.manifest), JSON.stringify(manifest) + '\n');
    }
    await build({
      ...options,
      entryPoints: [entry],
      outfile: bundle,
    });
  } catch (e) {
    const errors = (e.errors ?? []).map((m) => {
      const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '';
      return `${at}${m.text}`;
    });
    fail(errors.length ? errors.join('\n') : String(e));
  }
  // The same bundle, SDK and options as the last build of `out`: keep it.
  const pkg = await readFile(join(here, 'package.json'));
  const inputs = createHash('sha256')
    .update(await readFile(bundle))
    .update(pkg)
    .update(await readFile(fileURLToPath(import.meta.url)))
    .update(await readFile(resolve(here, '../../wit/holdfast.wit')))
    .update(JSON.stringify(className))
    .digest('hex');
  const recorded = `${out}.inputs`;
  const cached = join(buildCache(), `${inputs}.wasm`);
  if (existsSync(out) && existsSync(recorded) && (await readFile(recorded, 'utf8')) === inputs) {
    console.error(`${out} is up to date`);
  } else if (existsSync(cached)) {
    // Built before from the same inputs (another checkout, a deleted target/): the same bytes,
    // so the host's compiled code for them is reused too.
    await mkdir(dirname(out), { recursive: true });
    await copyFile(cached, out);
    await utimes(cached, new Date(), new Date());
    await writeFile(recorded, inputs);
    console.error(`${out}: the build of these inputs from the build cache (${cached})`);
  } else {
    let component;
    try {
      ({ component } = await componentize({
        sourcePath: bundle,
        witPath: resolve(here, '../../wit'),
        // Classes and the worker in one component: the host runs each class by its name
        // (context.className) and the default export as the worker; `hosting` lets one
        // instance host many objects.
        worldName: 'shared-application',
        // The host gives no wasi:http: Request/Response work without it.
        disableFeatures: ['http', 'fetch-event'],
      }));
    } catch (e) {
      fail(explain(String(e.message ?? e)));
    }
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, component);
    await writeFile(recorded, inputs);
    await remember(cached, component);
    console.error(`built ${out} (${(component.length / 1e6).toFixed(1)} MB)`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
