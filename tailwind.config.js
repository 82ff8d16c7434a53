/** Tailwind build for the da web UI: `npm run css` writes static/app.css. */
const defaultTheme = require("tailwindcss/defaultTheme");

/** @type {import('tailwindcss').Config} */
module.exports = {
  content: [
    "./views/**/*.templ",
    "./components/**/*.templ",
    "./handlers/**/*.go",
    "./views/**/*.go",
    "./components/**/*.go",
    "./static/app.js",
  ],
  theme: {
    extend: {
      fontFamily: {
        // System fonts only: the server works offline and loads nothing from a CDN.
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Noto Sans", "sans-serif", ...defaultTheme.fontFamily.sans.slice(-4)],
        mono: defaultTheme.fontFamily.mono,
      },
    },
  },
  plugins: [],
};
