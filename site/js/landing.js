// The landing page: one picture of what the zoo shows (the default board's models, highest log p(x) first, each
// with full samples from the prior) and a link to each view.
import * as runtime from "../decoder.js";
import {PAGES, drawGrey, el, fail, formatNumber, frame, ready} from "./ui.js";

const SAMPLES = 4;

frame("index.html");

async function main() {
  const zoo = await runtime.loadZoo("data/");
  window.__site = {zoo, ...runtime};
  const view = document.getElementById("view");
  const {dataset} = zoo.default;
  const set = (zoo.sets[dataset] || []).find((s) => s.title === zoo.default.set) || (zoo.sets[dataset] || [])[0];
  if (set) {
    const ranked = set.models.map((n) => zoo.models[n])
      .sort((a, b) => (b.headline.loglik ?? -Infinity) - (a.headline.loglik ?? -Infinity));
    const figure = el("figure", {className: "picture"});
    const row = el("div", {className: "landing-row"});
    for (const info of ranked) {
      const model = await runtime.loadModel(zoo, info.name);
      const r = runtime.rng(0);
      const z = runtime.priorCodes(r, SAMPLES, model.latentDim, 1.0);
      const p = model.decode(z, SAMPLES);
      const canvas = el("canvas", {className: "tiles"});
      drawGrey(canvas, runtime.drawSample(p, model.likelihood.key, r), SAMPLES, 2);
      const h = info.headline;
      row.append(el("div", {className: "landing-model"}, [
        el("b", {textContent: info.name}),
        el("div", {className: "big", textContent: `log p ${formatNumber(h.loglik)}`}),
        el("div", {className: "what", textContent: `${h.method}; FD of full samples ${formatNumber(h.fd, 0)}`}),
        canvas,
      ]));
    }
    figure.append(row, el("figcaption", {textContent: `${set.title} (${dataset}): ordered by log p(x) in nats, highest `
      + "first, each with four full samples x ~ p(x|z), z ~ N(0, I). Binarized and raw-pixel likelihoods are not "
      + "comparable with 8-bit ones."}));
    view.append(figure);
  }
  const links = el("div", {className: "views"});
  for (const page of PAGES) links.append(el("a", {href: page.file}, [el("b", {textContent: page.title}), page.what]));
  view.append(links);
  ready();
}

main().catch(fail);
