// The posterior p(z|x) of one test image, computed off the Latent page's main thread so the plane keeps answering
// the pointer meanwhile (1-2.5 s on the shipped 2-D models: docs/static_site.md). A module worker running the same
// decoder.js functions the page used to call itself (posteriorBox, then posteriorOnGrid), so there is one forward pass
// in one place and the numbers are the same. Messages in: {model} once (network, weights, likelihood, latentDim),
// then {token, x, qMean, qStd, points}; out: {token, decoded} after each chunk of codes, then {token, result} or
// {token, error}. The page supersedes a request by terminating the worker (site/js/latent.js).
import {posteriorBox, posteriorOnGrid} from "../decoder.js";

let model = null;

self.onmessage = ({data}) => {
  if (data.model) {
    model = data.model;
    return;
  }
  const {token, x, qMean, qStd, points} = data;
  let decoded = 0;
  const onChunk = (m) => { decoded += m; self.postMessage({token, decoded}); };
  try {
    const found = posteriorBox(model, x, qMean, qStd, undefined, onChunk);
    const post = posteriorOnGrid(model, x, found.box, points, onChunk);
    const result = {box: found.box, reachesEdge: found.reachesEdge, z1: post.z1, z2: post.z2, points: post.points,
                    joint: post.joint, logDensity: post.logDensity, logPx: post.logPx, logPxChange: post.logPxChange,
                    decoded};
    self.postMessage({token, result}, [post.joint.buffer, post.logDensity.buffer]);
  } catch (error) {
    self.postMessage({token, error: error && error.message ? error.message : String(error)});
  }
};
