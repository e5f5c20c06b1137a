// Leap's own npm client (@leap-ai/sdk), unchanged, against a music-gen server.
// usage: node leap_contract.js BASE_PATH ACCESS_TOKEN DURATION
// prints one JSON line: the created entity, the finished one (polled with findOne, which sends
// no Authorization header) and the ids listAll returned; exits 1 with the server's answer on error
const { Leap } = require("@leap-ai/sdk");

const [basePath, accessToken, duration] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

(async () => {
  const leap = new Leap({ basePath, accessToken });
  const created = (await leap.music.generate({
    prompt: "An electronic music soundtrack with a trumpet solo",
    mode: "music",
    duration: Number(duration),
  })).data;
  let job = created;
  const deadline = Date.now() + 120000;
  while (job.state === "queued" || job.state === "processing") {
    if (Date.now() > deadline) throw new Error("the job did not finish in 120 s");
    await sleep(200);
    job = (await leap.music.findOne({ inferenceId: created.id })).data;
  }
  const listed = (await leap.music.listAll()).data.map((j) => j.id);
  console.log(JSON.stringify({ created, job, listed }));
})().catch((error) => {
  const answer = error.response ? { status: error.response.status, data: error.response.data } : String(error);
  console.error(JSON.stringify(answer));
  process.exit(1);
});
