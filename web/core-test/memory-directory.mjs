// An in-memory stand-in for an OPFS directory of sync access handles (the
// PoolDirectory of web/client/src/opfs-pool.ts), with the durability model
// of a real disk: a crash() loses every write since a file's last flush().
// Handles are exclusive, as in OPFS.

class MemoryFile {
  data = new Uint8Array(0);
  synced = new Uint8Array(0);
  open = false;
}

class MemoryHandle {
  constructor(directory, file) {
    this.directory = directory;
    this.file = file;
    this.generation = directory.generation;
  }
  check() {
    if (this.generation !== this.directory.generation || !this.file.open) {
      throw new DOMException('the access handle was closed', 'InvalidStateError');
    }
  }
  read(buffer, { at }) {
    this.check();
    const bytes = this.file.data.subarray(at, at + buffer.length);
    buffer.set(bytes);
    return bytes.length;
  }
  write(buffer, { at }) {
    this.check();
    this.directory.beforeWrite?.(buffer.length);
    const end = at + buffer.length;
    if (end > this.file.data.length) {
      const grown = new Uint8Array(end);
      grown.set(this.file.data);
      this.file.data = grown;
    }
    this.file.data.set(buffer, at);
    return buffer.length;
  }
  truncate(size) {
    this.check();
    const resized = new Uint8Array(size);
    resized.set(this.file.data.subarray(0, size));
    this.file.data = resized;
  }
  getSize() {
    this.check();
    return this.file.data.length;
  }
  flush() {
    this.check();
    this.file.synced = this.file.data.slice();
  }
  close() {
    if (this.generation === this.directory.generation) this.file.open = false;
  }
}

export class MemoryDirectory {
  files = new Map();
  generation = 0;
  // Called before each write with its size; may throw (quota tests).
  beforeWrite = null;

  async list() {
    return [...this.files.keys()];
  }
  async open(name) {
    let file = this.files.get(name);
    if (file === undefined) {
      file = new MemoryFile();
      this.files.set(name, file);
    }
    if (file.open) throw new DOMException(`${name} is open elsewhere`, 'NoModificationAllowedError');
    file.open = true;
    return new MemoryHandle(this, file);
  }
  // Power loss: every file reverts to what its last flush() made durable and
  // every open handle dies.
  crash() {
    this.generation++;
    for (const file of this.files.values()) {
      file.data = file.synced.slice();
      file.open = false;
    }
  }
}
