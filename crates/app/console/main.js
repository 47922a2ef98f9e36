// The page's only script (index.html): starts the console. Every other module only defines
// things when imported; app.js's start() wires the page.

import { start } from "./app.js";

start();
