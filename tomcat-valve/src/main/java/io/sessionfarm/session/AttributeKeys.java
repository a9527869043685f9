package io.sessionfarm.session;

import java.sql.SQLException;

import org.apache.catalina.LifecycleException;
import org.apache.juli.logging.Log;

import io.sessionfarm.keys.KeyRing;
import io.sessionfarm.keys.MasterKey;
import io.sessionfarm.keys.RingSealer;
import io.sessionfarm.store.Database;
import io.sessionfarm.store.StoreGate;
import io.sessionfarm.store.ValueSealer;

/**
 * Encryption of attribute values at rest: with a farm master key, values are sealed under the key
 * ring's 'attribute' keys; without one they are stored as serialized, and the log says so.
 */
final class AttributeKeys {

    /** Key-ring purpose of the keys that encrypt attribute values. */
    static final String PURPOSE = "attribute";
    /**
     * A new attribute key every 30 days. A retiring key is deleted only once no stored value uses
     * it any more (values are re-encrypted when they change; the idle ones expire).
     */
    static final KeyRing.Schedule SCHEDULE = new KeyRing.Schedule(30L * 86_400_000, 30_000, 86_400_000);
    static final int CHECK_SECONDS = 10;

    private final MasterKey master;
    private final KeyRing ring;
    private final String app;

    private AttributeKeys(MasterKey master, KeyRing ring, String app) {
        this.master = master;
        this.ring = ring;
        this.app = app;
    }

    /** Loads the master key (file, or SESSIONFARM_MASTER_KEY) and joins the farm's attribute key ring. */
    static AttributeKeys start(String masterKeyFile, Database database, String app, Log log) throws LifecycleException {
        MasterKey master;
        try {
            master = MasterKey.loadIfConfigured(masterKeyFile, System::getenv);
        } catch (IllegalArgumentException e) {
            throw new LifecycleException(FarmManager.messages.getString("farmManager.badConfiguration", app, e.getMessage()));
        }
        if (master == null) {
            log.warn(FarmManager.messages.getString("farmManager.unencrypted", app));
            return new AttributeKeys(null, null, app);
        }
        try {
            return new AttributeKeys(master, KeyRing.open(database.dataSource(), master, PURPOSE, SCHEDULE,
                    KeyRing.StoredData.SESSION_ATTRIBUTES), app);
        } catch (KeyRing.Unusable e) {
            throw new LifecycleException(FarmManager.messages.getString("farmManager.badConfiguration", app, e.getMessage()));
        }
    }

    /** The farm master key, or null. */
    MasterKey master() {
        return master;
    }

    /** What seals stored values, or null: they are stored as serialized. */
    ValueSealer sealer() {
        return ring == null ? null : new RingSealer(ring, app);
    }

    /** Background: one step of the ring's rotation, if one is due. */
    void rotateIfDue(StoreGate gate, Log log) {
        if (ring == null || !gate.open()) {
            return;
        }
        try {
            ring.rotateIfDue();
        } catch (SQLException e) {
            gate.failed(e);
        } catch (RuntimeException e) {
            log.error(FarmManager.messages.getString("farmManager.pollFailed", app), e);
        }
    }
}
