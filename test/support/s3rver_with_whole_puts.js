// Starts s3rver (its own command line) with one fix: a PUT answers only once the object is
// whole on disk, and a reader sees the old object or the new one, never a part.
//
// Usage: node s3rver_with_whole_puts.js PATH/TO/s3rver/bin/s3rver.js [s3rver's options]
//
// Why: s3rver 3.7.1's FilesystemStore.putObject truncates the object's file, starts writing
// it, and answers the PUT before the write stream has finished. A HEAD or GET right after a
// PUT then stats or reads a short or empty file (seen in CI: a to_arrow object read back as
// "ipc: empty input"). S3 itself never shows a partial object, so the tests need a server
// that does not either. The object goes to a temporary file beside it (its name does not end
// in s3rver's object suffix, so listings skip it) and is renamed into place once closed. Its
// ETag and metadata are s3rver's own files, written right after the rename: a HEAD racing an
// overwrite of the same key may see the new bytes with the old ETag for that moment (no test
// overwrites an object while reading it).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable, Transform } = require('stream');
const { pipeline } = require('stream/promises');

const bin = process.argv.splice(2, 1)[0];
if (!bin) {
  console.error('usage: s3rver_with_whole_puts.js PATH/TO/s3rver/bin/s3rver.js [options]');
  process.exit(2);
}
const FilesystemStore = require(path.join(path.dirname(bin), '..', 'lib', 'stores',
                                          'filesystem.js'));

let temporaries = 0;

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${process.pid}-${temporaries++}.writing`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  const content = Buffer.isBuffer(object.content) ? Readable.from([object.content])
                                                  : object.content;
  try {
    await pipeline(content,
                   new Transform({
                     transform(chunk, encoding, callback) {
                       md5.update(chunk);
                       size += chunk.length;
                       callback(null, chunk);
                     },
                   }),
                   fs.createWriteStream(temporary));
    await fs.promises.rename(temporary, objectPath);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

require(bin);
