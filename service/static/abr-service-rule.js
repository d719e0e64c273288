/*
 * A dash.js (v5) custom ABR rule that asks the abr decision service for every chunk.
 *
 *   const abr = AbrServiceRule.attach(player, {server: "http://127.0.0.1:8000", policy: "dqn"});
 *
 * How a decision reaches the rule: dash.js asks its rules synchronously, just before it requests
 * a segment. When a video segment finishes downloading, the rule notes what it saw (index,
 * level, bytes, download time, buffer, stall time since the last report). The next time dash.js
 * asks, the rule reports those chunks to the service with a synchronous request (a few ms on a
 * local network) and answers with the level the service chose, so the level fetched for chunk
 * k+1 is the service's answer to chunk k's report. The session starts with the stream (ladder and
 * chunk duration from the manifest). If the service cannot be reached, the rule hands control
 * back to dash.js's own rules and says so on the console: playback never stops because of us.
 *
 * `abr.log` keeps, per chunk, the decision and what was fetched; the demo page and the browser
 * test read it. With `policy: "dashjs"` the rule only observes: dash.js's own rules decide, and
 * the log records what they fetched, for comparisons in the same player.
 */
(function (global) {
  "use strict";

  const DASH_RULES_OFF = {
    throughputRule: { active: false },
    bolaRule: { active: false },
    insufficientBufferRule: { active: false },
    switchHistoryRule: { active: false },
    droppedFramesRule: { active: false },
    abandonRequestsRule: { active: false },
  };
  const DASH_RULES_ON = {
    throughputRule: { active: true },
    bolaRule: { active: true },
    insufficientBufferRule: { active: true },
  };

  function attach(player, options) {
    const server = (options.server || "").replace(/\/$/, "");
    const state = {
      policy: options.policy || "dqn",
      sessionId: null,
      ladderKbps: null,
      levelById: null,
      chunkS: null,
      nChunks: null,
      nextIndex: 0, // the chunk the next report is about
      decided: {}, // chunk index -> level the service chose
      pending: [], // downloaded chunks not reported yet
      stallS: 0,
      stallStartMs: null,
      started: false,
      fallback: false,
      log: { decisions: [], fetched: [], reports: [], errors: [], summary: null, serviceLog: null },
    };

    function post(path, body, method) {
      const xhr = new XMLHttpRequest();
      xhr.open(method || "POST", server + path, false); // synchronous: dash.js asks synchronously
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(body === undefined ? null : JSON.stringify(body));
      if (xhr.status < 200 || xhr.status >= 300) {
        throw new Error(path + ": HTTP " + xhr.status + " " + xhr.responseText);
      }
      return JSON.parse(xhr.responseText);
    }

    function fallBack(error) {
      if (state.fallback) return;
      state.fallback = true;
      state.log.errors.push(String(error));
      console.warn("abr service unreachable, dash.js rules take over:", String(error));
      player.updateSettings({ streaming: { abr: { rules: DASH_RULES_ON } } });
    }

    function startSession(representations, streamInfo) {
      const sorted = representations.slice().sort((a, b) => a.bandwidth - b.bandwidth);
      state.ladderKbps = sorted.map((r) => Math.round(r.bandwidth / 1000));
      state.levelById = {};
      sorted.forEach((r, level) => (state.levelById[r.id] = level));
      state.chunkS = sorted[0].segmentDuration || sorted[0].fragmentDuration || options.chunkS;
      const durationS = (streamInfo && streamInfo.duration) || player.duration();
      state.nChunks = Math.round(durationS / state.chunkS);
      const answer = post("/v1/sessions", {
        ladder_kbps: state.ladderKbps,
        chunk_s: state.chunkS,
        n_chunks: state.nChunks,
        policy: state.policy,
      });
      state.sessionId = answer.session_id;
      state.decided[0] = answer.level;
      state.log.decisions.push({ index: 0, level: answer.level, policy: answer.policy });
      state.started = true;
    }

    function reportPending() {
      state.pending = state.pending.filter((chunk) => chunk.index >= state.nextIndex);
      while (state.pending.length && state.pending[0].index === state.nextIndex) {
        const chunk = state.pending.shift();
        const report = {
          index: chunk.index,
          level: chunk.level,
          size_bytes: chunk.bytes,
          download_s: chunk.downloadS,
          buffer_s: Math.max(0, chunk.bufferS),
          rebuffer_s: chunk.rebufferS,
        };
        const answer = post("/v1/sessions/" + state.sessionId + "/chunks", report);
        state.log.reports.push(report);
        state.nextIndex += 1;
        if (!answer.done) {
          state.decided[answer.chunk_index] = answer.level;
          state.log.decisions.push({
            index: answer.chunk_index,
            level: answer.level,
            policy: answer.policy,
            fallback: answer.fallback,
          });
        }
      }
    }

    const observeOnly = state.policy === "dashjs";

    function AbrServiceRuleClass() {
      const context = this.context;
      const SwitchRequest = dashjs.FactoryMaker.getClassFactoryByName("SwitchRequest");

      function getSwitchRequest(rulesContext) {
        const request = SwitchRequest(context).create();
        if (state.fallback || rulesContext.getMediaType() !== "video") return request;
        const controller = rulesContext.getAbrController();
        const representations = controller
          .getPossibleVoRepresentations(rulesContext.getMediaInfo(), true)
          .slice()
          .sort((a, b) => a.bandwidth - b.bandwidth);
        try {
          if (!state.started) startSession(representations, rulesContext.getStreamInfo());
          reportPending();
        } catch (error) {
          fallBack(error);
          return request;
        }
        const level = state.decided[state.nextIndex];
        if (level === undefined) return request;
        request.representation = representations[level];
        request.reason = "abr service: level " + level + " for chunk " + state.nextIndex;
        request.priority = SwitchRequest.PRIORITY.STRONG;
        return request;
      }

      return { getSwitchRequest: getSwitchRequest, reset: function () {} };
    }
    AbrServiceRuleClass.__dashjs_factory_name = "AbrServiceRule";
    const rule = dashjs.FactoryMaker.getClassFactory(AbrServiceRuleClass);

    // one fetch per chunk, as the service's protocol assumes: no re-fetching a buffered chunk
    // at another level (fast switching), no abandoning a download half-way
    player.updateSettings({ streaming: { buffer: { fastSwitchEnabled: false } } });
    if (!observeOnly) {
      player.updateSettings({ streaming: { abr: { rules: DASH_RULES_OFF } } });
      player.addABRCustomRule("qualitySwitchRules", "AbrServiceRule", rule);
    }

    player.on(dashjs.MediaPlayer.events.FRAGMENT_LOADING_COMPLETED, function (event) {
      const req = event.request;
      if (!req || req.mediaType !== "video" || req.type !== "MediaSegment") return;
      if (!state.levelById) {  // observing only: the ladder from the player
        const sorted = player.getRepresentationsByType("video").slice().sort((a, b) => a.bandwidth - b.bandwidth);
        state.ladderKbps = sorted.map((r) => Math.round(r.bandwidth / 1000));
        state.levelById = {};
        sorted.forEach((r, level) => (state.levelById[r.id] = level));
      }
      const id = req.representation ? req.representation.id : req.representationId;
      const level = state.levelById && id in state.levelById ? state.levelById[id] : -1;
      const index = Math.round(req.startTime / (state.chunkS || req.duration));
      const downloadS = ((req.endDate || req.requestEndDate) - req.startDate) / 1000;
      const chunk = {
        index: index,
        level: level,
        bytes: req.bytesLoaded || (event.response ? event.response.byteLength : 0),
        downloadS: Math.max(downloadS, 0.001),
        bufferS: player.getBufferLength("video") || 0,
        rebufferS: state.stallS,
      };
      state.stallS = 0;
      state.log.fetched.push({ index: index, level: level, bytes: chunk.bytes, downloadS: chunk.downloadS });
      if (observeOnly) {
        state.log.reports.push({ index: index, level: level, size_bytes: chunk.bytes,
          download_s: chunk.downloadS, buffer_s: chunk.bufferS, rebuffer_s: chunk.rebufferS });
        return;
      }
      state.pending.push(chunk);
      state.pending.sort((a, b) => a.index - b.index);
    });
    player.on(dashjs.MediaPlayer.events.PLAYBACK_WAITING, function () {
      if (state.log.fetched.length > 0 && state.stallStartMs === null) state.stallStartMs = performance.now();
    });
    player.on(dashjs.MediaPlayer.events.PLAYBACK_PLAYING, function () {
      if (state.stallStartMs !== null) {
        state.stallS += (performance.now() - state.stallStartMs) / 1000;
        state.stallStartMs = null;
      }
    });

    return {
      state: state,
      log: state.log,
      end: function () {
        if (!state.sessionId || state.fallback) return null;
        try {
          reportPending();
          state.log.serviceLog = post("/v1/sessions/" + state.sessionId, undefined, "GET");
          state.log.summary = post("/v1/sessions/" + state.sessionId, undefined, "DELETE");
        } catch (error) {
          fallBack(error);
        }
        return state.log.summary;
      },
    };
  }

  global.AbrServiceRule = { attach: attach };
})(window);
