/**
 * A minimal binding of Open MPI's C library (`libmpi.so.40`) through the koffi FFI package: the
 * calls that synchronous data-parallel training needs on `MPI_COMM_WORLD`, and nothing else.
 *
 * Every call is synchronous and blocks the event loop until the collective operation finishes
 * on all ranks, so MPI is only ever called from the main thread (`MPI_THREAD_SINGLE` suffices).
 */
import { createRequire } from 'node:module';

import { FtError } from '../../errors.js';

/** Soname of Open MPI's C library, for example in Open MPI 4.1.4, which Debian bookworm's `libopenmpi3` package installs. */
export const LIBMPI = 'libmpi.so.40';

/** The rank and world size that `mpirun` of Open MPI sets for every process it starts. */
export interface MpiLaunch {
  readonly rank: number;
  readonly size: number;
}

/**
 * Returns the rank and world size when this process was started by Open MPI's `mpirun`, read
 * from `OMPI_COMM_WORLD_RANK` and `OMPI_COMM_WORLD_SIZE`, or null when it was not.
 */
export function detectMpiLaunch(environment: NodeJS.ProcessEnv = process.env): MpiLaunch | null {
  const size = environment['OMPI_COMM_WORLD_SIZE'];
  const rank = environment['OMPI_COMM_WORLD_RANK'];
  if (size === undefined || rank === undefined) {
    return null;
  }
  return { rank: Number.parseInt(rank, 10), size: Number.parseInt(size, 10) };
}

/** A C function declared through koffi; arguments are checked by koffi against the prototype. */
type NativeFunction = (...args: unknown[]) => number;

interface KoffiModule {
  load(path: string, options?: { global?: boolean }): { func(prototype: string): NativeFunction; symbol(name: string): bigint };
}

/** The functions and predefined handles of libmpi that {@link Mpi} uses. */
interface MpiLibrary {
  readonly init: NativeFunction;
  readonly initialized: NativeFunction;
  readonly finalized: NativeFunction;
  readonly commRank: NativeFunction;
  readonly commSize: NativeFunction;
  readonly allreduce: NativeFunction;
  readonly bcast: NativeFunction;
  readonly barrier: NativeFunction;
  readonly abort: NativeFunction;
  readonly finalize: NativeFunction;
  /** Open MPI's handles are the addresses of exported globals, such as `ompi_mpi_comm_world` for `MPI_COMM_WORLD`. */
  readonly commWorld: bigint;
  readonly float: bigint;
  readonly double: bigint;
  readonly byte: bigint;
  readonly sum: bigint;
}

const MPI_SUCCESS = 0;

function loadKoffi(): KoffiModule {
  const require = createRequire(import.meta.url);
  try {
    return require('koffi') as KoffiModule;
  } catch (error) {
    throw new FtError(
      'BACKEND_NOT_INSTALLED',
      `backend.trainer.strategy mpi needs the npm package koffi, an optional dependency of @ft/core, which could not be loaded (${(error as Error).message}). Install it with \`npm install koffi\`.`,
      { cause: error },
    );
  }
}

function loadLibrary(): MpiLibrary {
  const koffi = loadKoffi();
  let library: ReturnType<KoffiModule['load']>;
  try {
    // RTLD_GLOBAL, because Open MPI's plugins (mca_*.so) resolve symbols of libmpi and
    // libopen-pal from the global namespace when they are opened.
    library = koffi.load(LIBMPI, { global: true });
  } catch (error) {
    throw new FtError(
      'BACKEND_NOT_INSTALLED',
      `backend.trainer.strategy mpi needs Open MPI's ${LIBMPI}, which could not be loaded (${(error as Error).message}). Install Open MPI, for example \`apt-get install openmpi-bin libopenmpi-dev\` on Debian or Ubuntu.`,
      { cause: error },
    );
  }
  return {
    init: library.func('int MPI_Init(void *argc, void *argv)'),
    initialized: library.func('int MPI_Initialized(_Out_ int *flag)'),
    finalized: library.func('int MPI_Finalized(_Out_ int *flag)'),
    commRank: library.func('int MPI_Comm_rank(void *comm, _Out_ int *rank)'),
    commSize: library.func('int MPI_Comm_size(void *comm, _Out_ int *size)'),
    allreduce: library.func('int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, void *datatype, void *op, void *comm)'),
    bcast: library.func('int MPI_Bcast(void *buffer, int count, void *datatype, int root, void *comm)'),
    barrier: library.func('int MPI_Barrier(void *comm)'),
    abort: library.func('int MPI_Abort(void *comm, int errorcode)'),
    finalize: library.func('int MPI_Finalize()'),
    commWorld: library.symbol('ompi_mpi_comm_world'),
    float: library.symbol('ompi_mpi_float'),
    double: library.symbol('ompi_mpi_double'),
    byte: library.symbol('ompi_mpi_byte'),
    sum: library.symbol('ompi_mpi_op_sum'),
  };
}

/** Largest element count of one MPI call, since `count` is a C int. */
const MAX_COUNT = 2 ** 31 - 1;

let shared: Mpi | null = null;

/**
 * `MPI_COMM_WORLD` of this process, initialised once and finalised when the process exits.
 * Collective calls must run in the same order on every rank.
 */
export class Mpi {
  private finalizedHere = false;

  private constructor(
    private readonly library: MpiLibrary,
    readonly rank: number,
    readonly size: number,
  ) {}

  /**
   * Loads libmpi, calls `MPI_Init` unless MPI is already initialised, and returns the world
   * communicator. Later calls return the same instance.
   */
  static initialize(): Mpi {
    if (shared !== null) {
      return shared;
    }
    const library = loadLibrary();
    const flag = [0];
    check(library.initialized(flag), 'MPI_Initialized');
    if (flag[0] === 0) {
      check(library.init(null, null), 'MPI_Init');
    }
    const rank = [0];
    const size = [0];
    check(library.commRank(library.commWorld, rank), 'MPI_Comm_rank');
    check(library.commSize(library.commWorld, size), 'MPI_Comm_size');
    const mpi = new Mpi(library, rank[0]!, size[0]!);
    // A process must call MPI_Finalize before it exits normally, or mpirun reports it as failed.
    process.once('exit', () => mpi.finalize());
    shared = mpi;
    return mpi;
  }

  /** Replaces `values` on every rank by their element-wise sum over all ranks (`MPI_Allreduce` with `MPI_SUM`, in place). */
  allreduceSum(values: Float32Array | Float64Array): void {
    const datatype = values instanceof Float32Array ? this.library.float : this.library.double;
    for (let start = 0; start < values.length; start += MAX_COUNT) {
      const chunk = values.subarray(start, Math.min(values.length, start + MAX_COUNT));
      // Open MPI rejects the same buffer as input and output unless it is MPI_IN_PLACE, so sum into a copy.
      const result = new (values.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(chunk.length);
      check(this.library.allreduce(chunk, result, chunk.length, datatype, this.library.sum, this.library.commWorld), 'MPI_Allreduce');
      chunk.set(result);
    }
  }

  /** Overwrites `values` on every rank with those of rank `root` (`MPI_Bcast` of the bytes). */
  broadcast(values: Float32Array | Float64Array | Int32Array, root = 0): void {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    for (let start = 0; start < bytes.length; start += MAX_COUNT) {
      const chunk = bytes.subarray(start, Math.min(bytes.length, start + MAX_COUNT));
      check(this.library.bcast(chunk, chunk.length, this.library.byte, root, this.library.commWorld), 'MPI_Bcast');
    }
  }

  barrier(): void {
    check(this.library.barrier(this.library.commWorld), 'MPI_Barrier');
  }

  /** Ends every rank of the job with `exitCode` (`MPI_Abort`); `mpirun` then stops the others. Does not return. */
  abort(exitCode: number): never {
    this.library.abort(this.library.commWorld, exitCode);
    // MPI_Abort normally ends the process itself; this covers an implementation that returns.
    process.exit(exitCode);
  }

  /** Calls `MPI_Finalize` once; after it no other call of this class may run. */
  finalize(): void {
    if (this.finalizedHere) {
      return;
    }
    const flag = [0];
    check(this.library.finalized(flag), 'MPI_Finalized');
    if (flag[0] === 0) {
      check(this.library.finalize(), 'MPI_Finalize');
    }
    this.finalizedHere = true;
  }
}

function check(code: number, call: string): void {
  if (code !== MPI_SUCCESS) {
    throw new FtError('WORKER_FAILED', `${call} failed with MPI error code ${code}.`);
  }
}
