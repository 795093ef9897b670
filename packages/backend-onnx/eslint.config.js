export { default } from '../../configs/eslint.shared.js';
