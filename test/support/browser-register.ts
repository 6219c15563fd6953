/** Preloaded with `node --import`: installs ./browser-hooks.js for the whole process. */
import { register } from 'node:module';

register('./browser-hooks.js', import.meta.url);
