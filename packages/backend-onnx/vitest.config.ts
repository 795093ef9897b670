import { sharedVitestConfig } from '../../configs/vitest.shared.js';

export default sharedVitestConfig;
