// Validates glTF binary files with the Khronos glTF-Validator and prints one
// line per file: counts of errors, warnings and infos, plus the messages of
// any error or warning. The exporter's contract is zero errors and zero
// warnings, so either one fails the run.
//
//     node tests/tools/validate-gltf.mjs FILE.glb...
//
// Exit status: 0 every file is clean; 1 some file has an error or a warning
// (or is not glTF at all); 2 usage or I/O problem; 77 the gltf-validator
// package is not installed (ctest reports the test as skipped).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const files = process.argv.slice(2);
if (files.length === 0 || files.some((f) => f.startsWith('-'))) {
    console.error('usage: node tests/tools/validate-gltf.mjs FILE.glb...');
    process.exit(2);
}

const require = createRequire(import.meta.url);
try {
    require.resolve('gltf-validator');
} catch {
    console.error('gltf-validator is not installed (run npm install): skipping');
    process.exit(77);
}
let validator;
try {
    validator = require('gltf-validator');
} catch (e) {
    console.error(`cannot load gltf-validator: ${e.message}`);
    process.exit(2);
}

const SEVERITY = ['error', 'warning', 'info', 'hint'];
let failed = false;
let broken = false;
for (const file of files) {
    let bytes;
    try {
        bytes = await readFile(file);
    } catch (e) {
        console.error(`${file}: cannot read: ${e.message}`);
        broken = true;
        continue;
    }
    let report;
    try {
        report = await validator.validateBytes(new Uint8Array(bytes), {
            uri: path.basename(file),
            // A GLB from the exporter is self-contained: any external
            // reference is itself a defect.
            externalResourceFunction: (uri) =>
                Promise.reject(new Error(`unexpected external resource ${uri}`)),
        });
    } catch (e) {
        console.log(`${file}: not readable as glTF: ${e}`);
        failed = true;
        continue;
    }
    const { numErrors, numWarnings, numInfos, messages } = report.issues;
    const serious = messages
        .filter((m) => m.severity <= 1)
        .map((m) => `${SEVERITY[m.severity]} ${m.code}${m.pointer ? ` at ${m.pointer}` : ''}: ${m.message}`);
    const detail = serious.length > 0 ? ` -- ${serious.join('; ')}` : '';
    console.log(`${file}: ${numErrors} errors, ${numWarnings} warnings, ${numInfos} infos${detail}`);
    if (numErrors > 0 || numWarnings > 0) failed = true;
}
process.exit(broken ? 2 : failed ? 1 : 0);
