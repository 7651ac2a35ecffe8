// The `cloudfront` module for the edge functions under njs (njs_runner.js): a KeyValueStore whose entries
// the runner sets before each case. `get` rejects for a missing key, as CloudFront's does, and every read
// rejects while `state.failing` is set. Only what the functions use (cf.kvs().get) is here.
var state = { entries: {}, failing: false, reads: [] };

export default {
  state: state,
  kvs: function () {
    return {
      get: async function (name) {
        state.reads.push(name);
        if (state.failing) throw new Error('KVS unavailable');
        if (!Object.prototype.hasOwnProperty.call(state.entries, name)) throw new Error('KeyNotFound: ' + name);
        return state.entries[name];
      },
    };
  },
};
