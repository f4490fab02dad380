// The landing page: one picture of what the zoo shows (the default board's models, highest log p(x) first, each
// with reconstructions of test images beside full samples from the prior) and a link to each view.
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
    // 8-bit likelihoods ranked by log p(x); binarized and raw-pixel ones after them, marked as not comparable
    const comparable = (info) => info.data_kind !== "binary" && !info.headline.raw;
    const ranked = set.models.map((n) => zoo.models[n]).sort((a, b) =>
      (comparable(b) - comparable(a)) || ((b.headline.loglik ?? -Infinity) - (a.headline.loglik ?? -Infinity)));
    const figure = el("figure", {className: "picture"});
    const row = el("div", {className: "landing-row"});
    for (const info of ranked) {
      const [model, codes] = await Promise.all([runtime.loadModel(zoo, info.name), runtime.loadCodes(zoo, info.name)]);
      const r = runtime.rng(0);
      const z = runtime.priorCodes(r, SAMPLES, model.latentDim, 1.0);
      const samples = el("canvas", {className: "tiles samples"});
      drawGrey(samples, runtime.drawSample(model.decode(z, SAMPLES), model.likelihood.key, r), SAMPLES, 2);
      const recon = el("canvas", {className: "tiles reconstructions"});
      drawGrey(recon, model.decode(codes.subarray(0, SAMPLES * model.latentDim), SAMPLES).mean, SAMPLES, 2);
      const h = info.headline;
      row.append(el("div", {className: "landing-model"}, [
        el("b", {textContent: info.name}),
        el("div", {className: "big", textContent: `log p ${formatNumber(h.loglik)}`}),
        el("div", {className: "what", textContent: comparable(info) ? h.method
          : `${h.method}; ${info.data_kind === "binary" ? "binarized" : "raw"} pixels: not comparable`}),
        el("div", {className: "pair"}, [recon, samples]),
        el("div", {className: "what", textContent: `FD of full samples ${formatNumber(h.fd, 0)}`}),
      ]));
    }
    figure.append(row, el("figcaption", {textContent: `${set.title} (${dataset}): left, reconstructions of test images `
      + "#0-3; right, full samples x ~ p(x|z), z ~ N(0, I). 8-bit likelihoods ordered by log p(x) in nats, highest "
      + "first; binarized and raw-pixel ones after them (not comparable)."}));
    view.append(figure);
  }
  const links = el("div", {className: "views"});
  for (const page of PAGES) links.append(el("a", {href: page.file}, [el("b", {textContent: page.title}), page.what]));
  view.append(links);
  ready();
}

main().catch(fail);
