import { describe, expect, it } from 'vitest';

import { detectMpiLaunch } from './mpi.js';

describe('detectMpiLaunch', () => {
  it('reads the rank and size that mpirun sets', () => {
    expect(detectMpiLaunch({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' })).toEqual({ rank: 1, size: 4 });
  });

  it('returns null outside mpirun', () => {
    expect(detectMpiLaunch({})).toBeNull();
    expect(detectMpiLaunch({ OMPI_COMM_WORLD_SIZE: '2' })).toBeNull();
  });
});
